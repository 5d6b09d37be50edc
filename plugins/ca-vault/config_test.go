package cavault

import (
	"context"
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

func TestInfoAndSchema(t *testing.T) {
	p := New()
	if _, ok := p.(sdk.CAPlugin); !ok {
		t.Fatal("New() is not an sdk.CAPlugin")
	}
	if got, want := p.Info(), (sdk.Info{Name: "ca-vault", Kind: sdk.KindCA, Version: "0.1.0"}); got.Name != want.Name || got.Kind != want.Kind || got.Version != want.Version {
		t.Fatalf("Info = %+v, want %+v", got, want)
	}
	s := p.ConfigSchema()
	names := map[string]bool{}
	for _, a := range s.Attributes {
		names[a.Name] = true
	}
	if !names["backend"] || !names["key_algorithm"] || len(s.Blocks) != 1 || s.Blocks[0].Name != "authority" || !s.Blocks[0].Repeated {
		t.Fatalf("schema lacks backend, key_algorithm or a repeated authority block: %+v", s)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name     string
		cfg      map[string]any
		wantPath string
		wantMsg  string
	}{
		{"unknown backend", map[string]any{"backend": "vault"}, "backend", `unknown backend "vault"`},
		{"unknown key algorithm", map[string]any{"key_algorithm": "dsa"}, "key_algorithm", `unknown key algorithm "dsa"`},
		{"authority blocks with managed", map[string]any{"authority": []map[string]string{{"type": "user"}}}, "authority", "only used by the file backend"},
		{"key_algorithm with file", map[string]any{"backend": "file", "key_algorithm": "rsa-2048"}, "key_algorithm", "only used by the managed backend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryConfigure(nil, t.TempDir(), tt.cfg)
			if err == nil {
				t.Fatal("Configure succeeded")
			}
			for _, d := range diagnosticsOf(t, err) {
				if d.Path == tt.wantPath && strings.Contains(d.Summary, tt.wantMsg) {
					return
				}
			}
			t.Fatalf("no diagnostic %q on %q in %v", tt.wantMsg, tt.wantPath, err)
		})
	}
}

func TestConfigUnknownAttribute(t *testing.T) {
	if _, err := tryConfigure(nil, t.TempDir(), map[string]any{"backnd": "file"}); err == nil || !strings.Contains(err.Error(), "backnd") {
		t.Fatalf("Configure with a misspelt attribute: %v", err)
	}
}

func TestFailedReconfigureKeepsPrevious(t *testing.T) {
	dir := t.TempDir()
	v := configure(t, nil, dir, managedConfig)
	err := v.Configure(context.Background(), sdk.ConfigureRequest{Config: []byte(`{"backend":"file"}`), DataDir: dir})
	if err == nil {
		t.Fatal("reconfiguring to a file backend without authorities succeeded")
	}
	if err := v.Health(context.Background()); err != nil {
		t.Fatalf("the previous configuration is gone: %v", err)
	}
}
