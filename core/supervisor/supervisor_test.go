package supervisor

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// testSpec launches this test binary as the "echo" plugin in mode.
func testSpec(t *testing.T, mode, body string) Spec {
	t.Helper()
	t.Setenv(envMode, mode)
	return specIn(t, t.TempDir(), body)
}

// testSpecB is testSpec for benchmarks.
func testSpecB(b *testing.B, mode string) Spec {
	b.Helper()
	b.Setenv(envMode, mode)
	return specIn(b, b.TempDir(), "    greeting = \"bench\"\n")
}

func specIn(t testing.TB, dir, body string) Spec {
	t.Helper()
	path := filepath.Join(dir, "keyway.hcl")
	src := "cluster_name = \"test\"\ndata_dir = \"" + dir + "\"\nplugin \"echo\" {\n  command = \"x\"\n  sha256 = \"" + strings.Repeat("0", 64) + "\"\n  config {\n" + body + "  }\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.NewParser().Load(path, []string{"ca-vault"})
	if diags.HasErrors() {
		t.Fatalf("test config: %s", diags)
	}
	return Spec{
		Name: "echo", Builtin: true, Path: os.Args[0], Args: []string{"-test.run=^$"},
		Kind: sdk.KindProtocol, LogLevel: hclog.Warn, Block: *cfg.Plugin("echo"),
	}
}

func fastPolicy() Policy {
	p := DefaultPolicy()
	p.CheckInterval = 20 * time.Millisecond
	p.BackoffInitial = 20 * time.Millisecond
	p.BackoffMax = 200 * time.Millisecond
	return p
}

func startSupervisor(t *testing.T, policy Policy, specs ...Spec) *Supervisor {
	t.Helper()
	s := New(Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}}), ClusterName: "test", DataDir: t.TempDir(), Policy: policy})
	if err := s.Start(context.Background(), specs); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// roundTrip hands a fresh TCP connection to the plugin and checks that it
// greets and echoes.
func roundTrip(t *testing.T, in *Instance, want string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = in.Handoff(ctx, server.(*net.TCPConn), &pluginv1.Session{Id: "s1", Listener: "test", Prefix: []byte("pre:")})
	_ = server.Close()
	if err != nil {
		t.Fatalf("handoff: %v", err)
	}
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(client)
	greeting, err := r.ReadString('\n')
	if err != nil || greeting != want+"\n" {
		t.Fatalf("greeting = %q, %v; want %q", greeting, err, want)
	}
	if _, err := client.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	echo, err := r.ReadString('\n')
	if err != nil || echo != "pre:ping\n" {
		t.Fatalf("echo = %q, %v; want the prefix and the line", echo, err)
	}
}

func TestLaunchConfigureAndHandoff(t *testing.T) {
	s := startSupervisor(t, fastPolicy(), testSpec(t, "ok", "    greeting = \"hello\"\n"))
	in, err := s.Instance("echo")
	if err != nil {
		t.Fatal(err)
	}
	st := in.Status()
	if st.State != StateRunning || st.Kind != "protocol" || st.Version != "0.0.1-test" || st.APIVersion != 1 || st.PID == 0 {
		t.Fatalf("status = %+v", st)
	}
	roundTrip(t, in, "hello")
	conn, err := in.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stats, err := conn.Protocol.Stats(context.Background(), &pluginv1.StatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.GetSessionsTotal() != 1 || stats.GetBytesFromClient() != uint64(len("pre:ping\n")) {
		t.Fatalf("stats = %v", stats)
	}
}

func TestLaunchErrors(t *testing.T) {
	tests := []struct {
		name, mode, body string
		want             []string
	}{
		{"plugin rejects a value", "ok", "    greeting = \"\"\n", []string{"keyway.hcl:7:16: error: Invalid configuration for plugin \"echo\": greeting: must not be empty"}},
		{"nested path", "ok", "    greeting = \"x\"\n    limits {\n      max_sessions = 0\n    }\n", []string{"keyway.hcl:9:22:", "limits.max_sessions: must be at least 1 (got 0)"}},
		{"missing required attribute", "ok", "", []string{"keyway.hcl:6:10: error: Missing required argument", "greeting"}},
		{"unknown attribute", "ok", "    greeting = \"x\"\n    colour = \"red\"\n", []string{"keyway.hcl:8:5: error: Unsupported argument", "colour"}},
		{"wrong type", "ok", "    greeting = [\"x\"]\n", []string{"keyway.hcl:7:16: error: Incorrect attribute value type"}},
		{"incompatible API version", "api99", "    greeting = \"x\"\n", []string{"protocol API versions [99], keyway speaks [1]", "upgrade keyway"}},
		{"crash at start", "crash-at-start", "", []string{`starting plugin "echo"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(t, tt.mode, tt.body)
			s := New(Options{Policy: fastPolicy()})
			err := s.Start(context.Background(), []Spec{spec})
			if err == nil {
				s.Stop()
				t.Fatal("start succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestChecksumMismatch(t *testing.T) {
	spec := testSpec(t, "ok", "    greeting = \"x\"\n")
	spec.Builtin = false
	spec.SHA256 = strings.Repeat("ab", 32)
	err := New(Options{}).Start(context.Background(), []Spec{spec})
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a checksum error", err)
	}
	if !strings.Contains(err.Error(), spec.SHA256) || !strings.Contains(err.Error(), ce.Got) || len(ce.Got) != 64 {
		t.Fatalf("error %q should name both sums", err)
	}
}

func TestExternalPluginWithRightChecksum(t *testing.T) {
	spec := testSpec(t, "ok", "    greeting = \"ext\"\n")
	sum, err := fileSHA256(spec.Path)
	if err != nil {
		t.Fatal(err)
	}
	spec.Builtin, spec.SHA256 = false, sum
	s := startSupervisor(t, fastPolicy(), spec)
	in, _ := s.Instance("echo")
	roundTrip(t, in, "ext")
}

// waitRestarted waits for the plugin to run under a pid other than old.
func waitRestarted(t *testing.T, in *Instance, old int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		st := in.Status()
		if st.State == StateRunning && st.PID != 0 && st.PID != old {
			return time.Since(start)
		}
		if ctx.Err() != nil {
			t.Fatalf("plugin not restarted within %s: %+v", within, st)
		}
		if _, err := in.Conn(ctx); err != nil {
			t.Fatalf("waiting for plugin: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKillRestartsWithinTwoSeconds(t *testing.T) {
	s := startSupervisor(t, DefaultPolicy(), testSpec(t, "ok", "    greeting = \"again\"\n"))
	in, _ := s.Instance("echo")
	old := in.Status().PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	took := waitRestarted(t, in, old, 2*time.Second)
	roundTrip(t, in, "again")
	t.Logf("restart after kill -9 took %s", took)
	if st := in.Status(); st.Restarts != 1 || !strings.Contains(st.LastError, "exited") {
		t.Fatalf("status after restart = %+v", st)
	}
}

func TestCrashLoopIsMarkedFailed(t *testing.T) {
	policy := fastPolicy()
	policy.MaxCrashes = 3
	s := startSupervisor(t, policy, testSpec(t, "exit-soon", "    greeting = \"x\"\n"))
	in, _ := s.Instance("echo")
	deadline := time.Now().Add(10 * time.Second)
	for in.Status().State != StateFailed {
		if time.Now().After(deadline) {
			t.Fatalf("plugin not marked failed: %+v", in.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := in.Status()
	if !strings.Contains(st.LastError, "crashed 4 times") {
		t.Fatalf("last error = %q", st.LastError)
	}
	if _, err := in.Conn(context.Background()); err == nil || !strings.Contains(err.Error(), "has failed") {
		t.Fatalf("Conn on a failed plugin: %v", err)
	}
}

func TestUnhealthyPluginIsRestarted(t *testing.T) {
	policy := fastPolicy()
	policy.HealthInterval = 20 * time.Millisecond
	policy.HealthFailures = 2
	s := startSupervisor(t, policy, testSpec(t, "unhealthy", "    greeting = \"x\"\n"))
	in, _ := s.Instance("echo")
	old := in.Status().PID
	waitRestarted(t, in, old, 5*time.Second)
	if st := in.Status(); !strings.Contains(st.LastError, "always unhealthy") {
		t.Fatalf("last error = %q", st.LastError)
	}
}

func TestGoroutinesStableAcrossRestarts(t *testing.T) {
	policy := fastPolicy()
	policy.MaxCrashes = 100
	s := startSupervisor(t, policy, testSpec(t, "ok", "    greeting = \"x\"\n"))
	in, _ := s.Instance("echo")
	restart := func() {
		old := in.Status().PID
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitRestarted(t, in, old, 5*time.Second)
		roundTrip(t, in, "x")
	}
	restart() // warm up lazily started goroutines
	before := settledGoroutines(0)
	for range 20 {
		restart()
	}
	after := settledGoroutines(before)
	t.Logf("goroutines: %d before, %d after 20 restarts", before, after)
	if after > before+3 {
		t.Fatalf("goroutines grew from %d to %d across 20 restarts", before, after)
	}
}

// settledGoroutines waits briefly for goroutine counts to fall to target.
func settledGoroutines(target int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100 && n > target; i++ {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestStopEndsPluginProcesses(t *testing.T) {
	s := New(Options{Policy: fastPolicy()})
	if err := s.Start(context.Background(), []Spec{testSpec(t, "ok", "    greeting = \"x\"\n")}); err != nil {
		t.Fatal(err)
	}
	in, _ := s.Instance("echo")
	pid := in.Status().PID
	s.Stop()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("plugin process %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if st := in.Status(); st.State != StateStopped {
		t.Fatalf("state = %s", st.State)
	}
}

// TestPluginSocketsGoWithThePlugin checks that a plugin's sockets live in
// a private directory that goes when the plugin does: killed and
// replaced, or stopped. A plugin killed by SIGKILL cannot remove them
// itself.
func TestPluginSocketsGoWithThePlugin(t *testing.T) {
	s := New(Options{Policy: DefaultPolicy()})
	if err := s.Start(context.Background(), []Spec{testSpec(t, "ok", "    greeting = \"x\"\n")}); err != nil {
		t.Fatal(err)
	}
	in, _ := s.Instance("echo")
	socketDir := func() string {
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.proc.socketDir
	}
	first := socketDir()
	fi, err := os.Stat(first)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory %s: %v, %v; want mode 0700", first, fi, err)
	}
	if entries, err := os.ReadDir(first); err != nil || len(entries) == 0 {
		t.Fatalf("the plugin's socket is not in %s: %v, %v", first, entries, err)
	}
	old := in.Status().PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitRestarted(t, in, old, 5*time.Second)
	if _, err := os.Stat(first); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the killed plugin's socket directory is still there: %v", err)
	}
	second := socketDir()
	if second == first {
		t.Fatal("the new plugin reuses the old socket directory")
	}
	roundTrip(t, in, "x")
	s.Stop()
	if _, err := os.Stat(second); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the stopped plugin's socket directory is still there: %v", err)
	}
}
