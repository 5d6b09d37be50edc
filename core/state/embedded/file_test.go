package embedded

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/state"
)

// open opens a store in a temporary directory, closed when the test ends.
func open(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestFileMode(t *testing.T) {
	for _, preexisting := range []os.FileMode{0, 0o644} {
		path := filepath.Join(t.TempDir(), "state.db")
		if preexisting != 0 {
			if err := os.WriteFile(path, nil, preexisting); err != nil {
				t.Fatal(err)
			}
		}
		open(t, path)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("file created with mode %v (before: %v), want 0600", fi.Mode().Perm(), preexisting)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Put(t.Context(), "users/alice", []byte("alice"), state.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Get(t.Context(), "users/alice"); err == nil {
		t.Fatal("Get on a closed store succeeded")
	}

	s = open(t, path)
	kv, err := s.Get(t.Context(), "users/alice")
	if err != nil || string(kv.Value) != "alice" || kv.Revision != rev {
		t.Fatalf("after reopening: %q rev %d, %v; want %q rev %d", kv.Value, kv.Revision, err, "alice", rev)
	}
	next, err := s.Put(t.Context(), "users/bob", []byte("bob"), state.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if next <= rev {
		t.Fatalf("revision after reopening %d, not above %d", next, rev)
	}
}

// holdEnv makes the test binary hold a store's lock for TestSecondOpenFails.
const holdEnv = "KEYWAY_STATE_TEST_HOLD"

// TestHoldLockHelper is the other process of TestSecondOpenFails: it opens
// the store, says "locked", and keeps it open until its stdin closes.
func TestHoldLockHelper(t *testing.T) {
	path := os.Getenv(holdEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.Stdout.WriteString("locked\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
}

func TestSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldLockHelper$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	start := time.Now()
	s, err := Open(path, WithLockTimeout(300*time.Millisecond))
	if err == nil {
		s.Close()
		t.Fatal("second Open succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("second Open took %s to fail", took)
	}
	for _, want := range []string{path, "another keyway"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// Once the other process is gone, the file opens.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	open(t, path)
}
