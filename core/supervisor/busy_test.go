package supervisor

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// logCounter counts the log lines holding a phrase, passing every line
// on to the test's log.
type logCounter struct {
	t      *testing.T
	phrase string
	mu     sync.Mutex
	n      int
}

func (c *logCounter) Write(p []byte) (int, error) {
	c.t.Log(strings.TrimRight(string(p), "\n"))
	c.mu.Lock()
	c.n += strings.Count(string(p), c.phrase)
	c.mu.Unlock()
	return len(p), nil
}

func (c *logCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestBusyPluginIsNotReplaced checks the difference between a plugin
// that misses its health checks while it uses CPU (busy: kept until
// HealthBusyLimit) and one that misses them idle (hung: replaced after
// HealthFailures misses).
func TestBusyPluginIsNotReplaced(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a process's CPU time is read from /proc")
	}
	tests := []struct {
		name, mode string
		busyLimit  time.Duration
		// excused is how many missed checks must be excused before the
		// plugin is checked to be the same process; 0 when it must be
		// replaced, with replacedFor in its last error.
		excused     int
		replacedFor string
	}{
		{"busy, within the limit", "busy", time.Minute, 4, ""},
		{"busy past the limit", "busy", 700 * time.Millisecond, 0, "while busy"},
		{"hung", "hung", time.Minute, 0, "failed 2 health checks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := frozenPolicy()
			policy.HealthBusyLimit = tt.busyLimit
			log := &logCounter{t: t, phrase: "while the plugin is busy"}
			s := New(Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: log}), ClusterName: "test", DataDir: t.TempDir(), Policy: policy})
			if err := s.Start(context.Background(), []Spec{testSpec(t, tt.mode, "    greeting = \"x\"\n")}); err != nil {
				t.Fatalf("start: %v", err)
			}
			t.Cleanup(s.Stop)
			in, _ := s.Instance("echo")
			old := in.Status().PID
			if tt.excused == 0 {
				waitRestarted(t, in, old, 10*time.Second)
				if st := in.Status(); !strings.Contains(st.LastError, tt.replacedFor) {
					t.Fatalf("last error = %q, want it to say %q", st.LastError, tt.replacedFor)
				}
				return
			}
			deadline := time.Now().Add(15 * time.Second)
			for log.count() < tt.excused {
				if time.Now().After(deadline) {
					t.Fatalf("%d missed checks excused in 15 s, want %d", log.count(), tt.excused)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if st := in.Status(); st.PID != old || st.Restarts != 0 {
				t.Fatalf("the busy plugin was replaced: %+v", st)
			}
		})
	}
}
