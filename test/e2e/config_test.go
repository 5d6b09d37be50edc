package e2e

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestConfigErrorsGolden runs `keyway config validate` on broken files and
// compares what a user sees with testdata/config/*.golden.
func TestConfigErrorsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, src := range files {
		name := strings.TrimSuffix(filepath.Base(src), ".hcl")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			text := strings.NewReplacer("{{tcprelay}}", built.tcprelay, "{{sha256}}", sha256File(t, built.tcprelay)).Replace(string(raw))
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, name+".hcl"), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(built.keyway, "config", "validate", "-c", name+".hcl")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("validate accepted %s:\n%s", name, out)
			}
			got := strings.ReplaceAll(string(out), built.tcprelay, "{{tcprelay}}")
			golden := strings.TrimSuffix(src, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestValidConfigValidates(t *testing.T) {
	cfg, _ := writeConfig(t, "plugin \"postgres\" {\n  log_level = \"warn\"\n}\n")
	out, err := exec.Command(built.keyway, "config", "validate", "-c", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "is valid (3 plugins configured)") {
		t.Fatalf("validate: %v\n%s", err, out)
	}
}
