package supervisor

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestActiveSince(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name          string
		before, after activity
		want          time.Duration
	}{
		{"each thread's growth",
			activity{threads: map[int]time.Duration{1: 10 * ms, 2: 5 * ms}},
			activity{threads: map[int]time.Duration{1: 30 * ms, 2: 6 * ms}}, 21 * ms},
		{"a thread that ended takes nothing away",
			activity{threads: map[int]time.Duration{1: 10 * ms, 2: 900 * ms}},
			activity{threads: map[int]time.Duration{1: 50 * ms}}, 40 * ms},
		{"a new thread counts from zero",
			activity{threads: map[int]time.Duration{1: 10 * ms}},
			activity{threads: map[int]time.Duration{1: 10 * ms, 7: 25 * ms}}, 25 * ms},
		{"no scheduler statistics before: CPU time alone",
			activity{cpu: 100 * ms},
			activity{cpu: 180 * ms, threads: map[int]time.Duration{1: 5 * time.Second}}, 80 * ms},
		{"no scheduler statistics now: CPU time alone",
			activity{cpu: 100 * ms, threads: map[int]time.Duration{1: 5 * time.Second}},
			activity{cpu: 120 * ms}, 20 * ms},
		{"CPU time never goes back",
			activity{cpu: 100 * ms}, activity{cpu: 90 * ms}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.after.activeSince(tt.before); got != tt.want {
				t.Fatalf("activeSince = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name        string
		line        string
		cpu         time.Duration
		stopped, ok bool
	}{
		{"running", "42 (keyway) R 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 8 0", 2 * time.Second, false, true},
		{"stopped, a name with spaces and parentheses", "42 (a ) b) T 1 42 42 0 -1 0 0 0 0 0 3 4 0 0", 70 * time.Millisecond, true, true},
		{"traced", "42 (x) t 1 42 42 0 -1 0 0 0 0 0 0 1", 10 * time.Millisecond, true, true},
		{"too short", "42 (x) S 1 2 3", 0, false, false},
		{"no name", "42 x S 1 42 42 0 -1 0 0 0 0 0 1 1", 0, false, false},
		{"not a number", "42 (x) S 1 42 42 0 -1 0 0 0 0 0 a 1", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpu, stopped, ok := parseStat([]byte(tt.line))
			if cpu != tt.cpu || stopped != tt.stopped || ok != tt.ok {
				t.Fatalf("parseStat = %v, %v, %v; want %v, %v, %v", cpu, stopped, ok, tt.cpu, tt.stopped, tt.ok)
			}
		})
	}
}

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		line string
		want time.Duration
		ok   bool
	}{
		{"1500 2500 12\n", 4000, true},
		{"1500\n", 0, false},
		{"x 2500 12\n", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseSchedstat([]byte(tt.line))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseSchedstat(%q) = %v, %v; want %v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

// TestProcessActivityReadsThisProcess checks the reading of a live
// process: this test's own threads, one of which spins between two
// readings.
func TestProcessActivityReadsThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a process's activity is read from /proc")
	}
	before, ok := processActivity(os.Getpid())
	if !ok || before.stopped || len(before.threads) == 0 {
		t.Fatalf("first reading = %+v, %v; want threads and not stopped", before, ok)
	}
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	after, ok := processActivity(os.Getpid())
	if !ok {
		t.Fatal("second reading failed")
	}
	if got := after.activeSince(before); got < 40*time.Millisecond {
		t.Fatalf("50 ms of spinning read as %v active", got)
	}
	if _, ok := processActivity(-1); ok {
		t.Fatal("a process that does not exist was read")
	}
}
