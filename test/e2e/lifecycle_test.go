package e2e

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/admin"
)

// TestAdminSocketIsUpBeforeThePublicPort starts keyway as a script does
// (`keyway start &`) and, the moment the proxy's public port accepts a
// connection, expects the admin socket to exist and an admin command to
// succeed: the socket is bound before any public port.
func TestAdminSocketIsUpBeforeThePublicPort(t *testing.T) {
	proxyAddr := freeAddr(t)
	cfg, dataDir := writeConfig(t, "auth {}\n\nproxy {\n  listen = \""+proxyAddr+"\"\n}\n")
	n := launchNode(t, cfg, dataDir, exec.Command(built.keyway, "start", "-c", cfg))

	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", proxyAddr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-n.exited:
			t.Fatalf("keyway exited during start:\n%s", n.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy's port did not accept within 20 s:\n%s", n.logs())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := os.Stat(admin.SocketPath(dataDir)); err != nil {
		t.Fatalf("the proxy's port accepts but the admin socket is missing: %v", err)
	}
	out, err := exec.Command(built.keyway, "plugins", "ls", "-c", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("an admin command right after the public port answered failed: %v\n%s", err, out)
	}
}

// TestReadyFileAnnouncesAServingProcess starts keyway with --ready-file,
// as a script does: a stale file is removed first, the file appears with
// keyway's pid once it serves, an admin command and the proxy's port
// answer at once, and the file is gone once keyway stopped.
func TestReadyFileAnnouncesAServingProcess(t *testing.T) {
	proxyAddr := freeAddr(t)
	cfg, dataDir := writeConfig(t, "auth {}\n\nproxy {\n  listen = \""+proxyAddr+"\"\n}\n")
	ready := filepath.Join(t.TempDir(), "keyway.ready")
	if err := os.WriteFile(ready, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := launchNode(t, cfg, dataDir, exec.Command(built.keyway, "start", "-c", cfg, "--ready-file="+ready))

	want := strconv.Itoa(n.cmd.Process.Pid) + "\n"
	waitFor(t, 20*time.Second, "the ready file with keyway's pid", func() bool {
		b, err := os.ReadFile(ready)
		return err == nil && string(b) == want
	})
	if out, err := exec.Command(built.keyway, "plugins", "ls", "-c", cfg).CombinedOutput(); err != nil {
		t.Fatalf("an admin command once the ready file exists: %v\n%s", err, out)
	}
	c, err := net.DialTimeout("tcp", proxyAddr, time.Second)
	if err != nil {
		t.Fatalf("the proxy's port once the ready file exists: %v", err)
	}
	_ = c.Close()

	signal(t, n.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("keyway did not stop within 20 s of SIGTERM")
	}
	if _, err := os.Stat(ready); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the ready file after keyway stopped: %v", err)
	}
}
