package e2e

import (
	"net"
	"os"
	"os/exec"
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
	n := &node{t: t, cfgPath: cfg, dataDir: dataDir, exited: make(chan struct{})}
	n.cmd = exec.Command(built.keyway, "start", "-c", cfg)
	n.cmd.Stderr = lockedWriter{n}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("keyway stderr:\n%s", n.logs())
		}
	})

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
