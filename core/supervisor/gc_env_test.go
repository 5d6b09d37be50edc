package supervisor

import (
	"bytes"
	"os"
	"strconv"
	"testing"
)

// TestPluginsRunWithKeywaysGCTarget checks the collector's target a
// plugin process starts with: keyway's own unless the operator set GOGC.
func TestPluginsRunWithKeywaysGCTarget(t *testing.T) {
	tests := []struct {
		name, operator, want string
	}{
		{"unset", "", "GOGC=50"},
		{"set by the operator", "150", "GOGC=150"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOGC", tt.operator)
			s := startSupervisor(t, fastPolicy(), testSpec(t, "ok", "    greeting = \"hello\"\n"))
			in, err := s.Instance("echo")
			if err != nil {
				t.Fatal(err)
			}
			environ, err := os.ReadFile("/proc/" + strconv.Itoa(in.Status().PID) + "/environ")
			if err != nil {
				t.Skipf("the plugin's environment cannot be read here: %v", err)
			}
			var got []string
			for kv := range bytes.SplitSeq(environ, []byte{0}) {
				if bytes.HasPrefix(kv, []byte("GOGC=")) {
					got = append(got, string(kv))
				}
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("the plugin's environment has %q, want exactly %q", got, tt.want)
			}
		})
	}
}
