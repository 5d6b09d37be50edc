package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/test/pgtest"
)

// TestFrozenPostgresPluginIsReplaced stops the postgres plugin with
// SIGSTOP: its health checks fail, keyway kills it and starts another,
// and psql works again. Then, with the new plugin frozen too, SIGTERM
// still ends keyway, and no plugin process is left.
func TestFrozenPostgresPluginIsReplaced(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	psql := func() error {
		out, err := pgtest.Psql(a.connString(alice, "postgres", "postgres")+" connect_timeout=3", "select 'alive'")
		if err == nil && out != "alive" {
			return fmt.Errorf("psql printed %q", out)
		}
		return err
	}
	if err := psql(); err != nil {
		t.Fatalf("psql before the freeze: %v", err)
	}

	old := a.node.plugin("postgres").PID
	signal(t, old, syscall.SIGSTOP)
	frozen := time.Now()
	// The next health check (every second) fails after its 1.5 s
	// timeout, a second one follows at once, and the plugin is then
	// killed without a grace period and launched again: about 5 s; the
	// bound leaves room for a loaded machine.
	waitFor(t, 12*time.Second, "psql to work again after SIGSTOP of the postgres plugin", func() bool {
		p := a.node.plugin("postgres")
		return p.PID != old && p.State == "running" && psql() == nil
	})
	t.Logf("psql works again %s after SIGSTOP of the postgres plugin", time.Since(frozen).Round(time.Millisecond))
	if err := waitGone([]int{old}, 2*time.Second); err != nil {
		t.Fatalf("the frozen plugin was not killed: %v", err)
	}
	if p := a.node.plugin("postgres"); !strings.Contains(p.LastError, "health checks") {
		t.Fatalf("last error %q does not name the failed health checks", p.LastError)
	}

	var pids []int
	for _, p := range a.node.plugins() {
		pids = append(pids, p.PID)
	}
	signal(t, a.node.plugin("postgres").PID, syscall.SIGSTOP)
	signal(t, a.node.cmd.Process.Pid, syscall.SIGTERM)
	stopped := time.Now()
	select {
	case <-a.node.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("keyway did not exit within 15 s of SIGTERM with a frozen plugin")
	}
	t.Logf("keyway exited %s after SIGTERM with a frozen plugin", time.Since(stopped).Round(time.Millisecond))
	if err := waitGone(pids, 2*time.Second); err != nil {
		t.Fatal(err)
	}
}

// hangingPlugin writes an external plugin that forks a child holding its
// standard output, records the child's pid in pidFile and never
// completes the handshake. The pid is written to a temporary file and
// renamed, so pidFile, once it exists, is complete.
func hangingPlugin(t *testing.T, dir string) (path, pidFile string) {
	t.Helper()
	path, pidFile = filepath.Join(dir, "hang.sh"), filepath.Join(dir, "child.pid")
	script := "#!/bin/sh\nsleep 600 &\necho $! > " + pidFile + ".tmp\nmv " + pidFile + ".tmp " + pidFile + "\nexec sleep 600\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path, pidFile
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the plugin did not fork: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestPluginThatNeverServes starts keyway with an external plugin that
// forks and never completes go-plugin's handshake: with start_timeout
// keyway fails to start, naming the plugin and what it did not do, and
// on SIGTERM during the wait it exits at once; either way the plugin's
// child is gone.
func TestPluginThatNeverServes(t *testing.T) {
	t.Run("start timeout", func(t *testing.T) {
		dir := t.TempDir()
		script, pidFile := hangingPlugin(t, dir)
		cfg, _ := writeConfig(t, fmt.Sprintf("plugin \"hang\" {\n  command = %q\n  sha256 = %q\n  start_timeout = \"2s\"\n}\n", script, sha256File(t, script)))
		cmd := exec.Command(built.keyway, "start", "-c", cfg)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err == nil {
				t.Fatalf("keyway started with a plugin that never serves:\n%s", out.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("keyway start still runs 15 s after a start_timeout of 2s:\n%s", out.String())
		}
		t.Logf("keyway start failed after %s", time.Since(start).Round(time.Millisecond))
		for _, want := range []string{`plugin "hang"`, "did not complete its handshake within 2s"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
		if err := waitGone([]int{readPID(t, pidFile)}, 2*time.Second); err != nil {
			t.Fatalf("the plugin's child outlived keyway: %v", err)
		}
	})
	t.Run("SIGTERM while waiting", func(t *testing.T) {
		dir := t.TempDir()
		script, pidFile := hangingPlugin(t, dir)
		cfg, _ := writeConfig(t, fmt.Sprintf("plugin \"hang\" {\n  command = %q\n  sha256 = %q\n  start_timeout = \"10m\"\n}\n", script, sha256File(t, script)))
		cmd := exec.Command(built.keyway, "start", "-c", cfg)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		waitFor(t, 10*time.Second, "the plugin to fork", func() bool {
			_, err := os.Stat(pidFile)
			return err == nil
		})
		child := readPID(t, pidFile)
		signal(t, cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("keyway start ignored SIGTERM while its plugin hung:\n%s", out.String())
		}
		if !strings.Contains(out.String(), `plugin "hang" was still starting`) {
			t.Errorf("output does not say why keyway stopped:\n%s", out.String())
		}
		if err := waitGone([]int{child}, 2*time.Second); err != nil {
			t.Fatalf("the plugin's child outlived keyway: %v", err)
		}
	})
}
