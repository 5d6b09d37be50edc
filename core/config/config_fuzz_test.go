package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad writes fuzzed HCL to a file and loads it. Load never panics;
// it returns a configuration exactly when it reports no error; every
// diagnostic that has a subject names the file loaded; and both ways of
// printing the diagnostics cope with any position they carry.
func FuzzLoad(f *testing.F) {
	// Inputs run one at a time in each fuzzing process, so they share
	// one file; a directory per input would dominate the run time.
	path := filepath.Join(f.TempDir(), "keyway.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		p := NewParser()
		cfg, diags := p.Load(path, []string{"ca-vault", "postgres", "rbac-opa"})
		if (cfg == nil) != diags.HasErrors() {
			t.Fatalf("configuration %v with diagnostics:\n%s", cfg != nil, FormatDiagnostics(diags))
		}
		for _, d := range diags {
			if d.Subject != nil && d.Subject.Filename != path {
				t.Fatalf("diagnostic %q has subject in file %q, want %q", d.Summary, d.Subject.Filename, path)
			}
		}
		_ = FormatDiagnostics(diags)
		if err := WriteDiagnostics(io.Discard, p.Files(), diags); err != nil {
			t.Fatal(err)
		}
	})
}
