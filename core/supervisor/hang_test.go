package supervisor

import (
	"context"
	"errors"
	"github.com/hashicorp/go-hclog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// frozenPolicy finds a frozen plugin within about a second.
func frozenPolicy() Policy {
	p := fastPolicy()
	p.HealthInterval = 200 * time.Millisecond
	p.HealthTimeout = 200 * time.Millisecond
	p.HealthFailures = 2
	return p
}

// waitGone waits until pid no longer runs: it does not exist, or it is a
// zombie waiting for a parent that is not this test to reap it.
func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) || isZombie(pid) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs %s later (kill 0: %v)", pid, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isZombie(pid int) bool { return procState(pid) == 'Z' }

// procState is the state letter of pid in /proc, or 0.
func procState(pid int) byte {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The state follows the command name, which is in parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || len(s) <= i+2 {
		return 0
	}
	return s[i+2]
}

// freeze stops pid with SIGSTOP and waits until the kernel shows it
// stopped.
func freeze(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for procState(pid) != 'T' {
		if time.Now().After(deadline) {
			t.Fatalf("process %d is not stopped (state %q)", pid, procState(pid))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFrozenPluginIsReplaced(t *testing.T) {
	policy := frozenPolicy()
	s := startSupervisor(t, policy, testSpec(t, "ok", "    greeting = \"thawed\"\n"))
	in, _ := s.Instance("echo")
	old := in.Status().PID
	freeze(t, old)
	// Finding the plugin frozen takes HealthFailures checks; replacing it
	// must then take less than five seconds.
	detect := time.Duration(policy.HealthFailures) * (policy.HealthInterval + policy.HealthTimeout)
	took := waitRestarted(t, in, old, detect+5*time.Second)
	t.Logf("frozen plugin replaced %s after SIGSTOP", took)
	roundTrip(t, in, "thawed")
	waitGone(t, old, 2*time.Second)
	if st := in.Status(); !strings.Contains(st.LastError, "health checks") {
		t.Fatalf("last error = %q, want the failed health checks", st.LastError)
	}
}

func TestStopWithFrozenPluginIsBounded(t *testing.T) {
	tests := []struct {
		name string
		// healthInterval and healthTimeout of the policy.
		healthInterval, healthTimeout time.Duration
	}{
		{"no health check in flight", time.Hour, 2 * time.Second},
		{"health check in flight", 20 * time.Millisecond, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := fastPolicy()
			policy.HealthInterval, policy.HealthTimeout = tt.healthInterval, tt.healthTimeout
			s := New(Options{Policy: policy, Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})})
			if err := s.Start(context.Background(), []Spec{testSpec(t, "ok", "    greeting = \"x\"\n")}); err != nil {
				t.Fatal(err)
			}
			in, _ := s.Instance("echo")
			pid := in.Status().PID
			freeze(t, pid)
			// With checks every 20 ms, one is waiting on the frozen
			// plugin by now; without, nothing is.
			time.Sleep(100 * time.Millisecond)
			start := time.Now()
			s.Stop()
			took := time.Since(start)
			t.Logf("stop with a frozen plugin took %s", took)
			if limit := policy.StopGrace + reapTimeout + time.Second; took > limit {
				t.Fatalf("stop took %s, more than %s", took, limit)
			}
			waitGone(t, pid, time.Second)
		})
	}
}

// forkingSpec is the "fork-and-hang" plugin and the file where it records
// its child's pid.
func forkingSpec(t *testing.T, startTimeout time.Duration) (Spec, string) {
	spec := testSpec(t, "fork-and-hang", "    greeting = \"x\"\n")
	spec.StartTimeout = startTimeout
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	t.Setenv(envPIDFile, pidFile)
	return spec, pidFile
}

// childPID reads the pid the forking plugin recorded.
func childPID(t *testing.T, pidFile string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the plugin did not fork: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestForkingPluginThatNeverServesFailsStart(t *testing.T) {
	spec, pidFile := forkingSpec(t, time.Second)
	start := time.Now()
	err := New(Options{Policy: fastPolicy()}).Start(context.Background(), []Spec{spec})
	took := time.Since(start)
	t.Logf("start failed after %s: %v", took, err)
	if err == nil {
		t.Fatal("start succeeded")
	}
	for _, want := range []string{`plugin "echo"`, "did not complete its handshake within 1s", "killed it and its process group"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if limit := spec.StartTimeout + reapTimeout + time.Second; took > limit {
		t.Fatalf("start took %s to fail, more than %s", took, limit)
	}
	waitGone(t, childPID(t, pidFile), time.Second)
}

func TestStartAbandonedWhileForkingPluginHangs(t *testing.T) {
	spec, pidFile := forkingSpec(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- New(Options{Policy: fastPolicy()}).Start(ctx, []Spec{spec}) }()
	// Keyway is asked to stop once the plugin has forked.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(pidFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin did not fork")
		}
		time.Sleep(10 * time.Millisecond)
	}
	child := childPID(t, pidFile)
	cancel()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "asked to stop") {
			t.Fatalf("start returned %v, want an error saying keyway is stopping", err)
		}
	case <-time.After(reapTimeout + time.Second):
		t.Fatal("start did not return after its context was cancelled")
	}
	waitGone(t, child, time.Second)
}

func TestGoroutinesStableAcrossFrozenRestarts(t *testing.T) {
	policy := frozenPolicy()
	policy.MaxCrashes = 100
	policy.StopGrace = 100 * time.Millisecond
	s := startSupervisor(t, policy, testSpec(t, "ok", "    greeting = \"x\"\n"))
	in, _ := s.Instance("echo")
	restart := func() {
		old := in.Status().PID
		if err := syscall.Kill(old, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		waitRestarted(t, in, old, 10*time.Second)
		roundTrip(t, in, "x")
	}
	restart() // warm up lazily started goroutines
	before := settledGoroutines(0)
	for range 5 {
		restart()
	}
	after := settledGoroutines(before)
	t.Logf("goroutines: %d before, %d after 5 frozen restarts", before, after)
	if after > before+3 {
		t.Fatalf("goroutines grew from %d to %d across 5 frozen restarts", before, after)
	}
}
