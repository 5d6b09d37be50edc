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
	if !names["backend"] || !names["key_algorithm"] || len(s.Blocks) != 2 || s.Blocks[0].Name != "authority" || !s.Blocks[0].Repeated {
		t.Fatalf("schema lacks backend, key_algorithm or a repeated authority block: %+v", s)
	}
	pb := s.Blocks[1]
	if pb.Name != "pkcs11" || pb.Repeated {
		t.Fatalf("second block is %q (repeated %v), want a single pkcs11 block", pb.Name, pb.Repeated)
	}
	want := map[string]bool{"module": true, "token_label": true, "pin_file": true, "key_algorithm": false}
	for _, a := range pb.Body.Attributes {
		required, ok := want[a.Name]
		if !ok || a.Required != required || a.Type != sdk.TypeString {
			t.Errorf("pkcs11 attribute %+v is unexpected", a)
		}
		delete(want, a.Name)
	}
	if len(want) > 0 {
		t.Errorf("pkcs11 block lacks %v", want)
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
		{"pkcs11 block with managed", map[string]any{"pkcs11": okPKCS11Block()}, "pkcs11", "only used by the pkcs11 backend"},
		{"pkcs11 block with file", map[string]any{"backend": "file", "pkcs11": okPKCS11Block()}, "pkcs11", "only used by the pkcs11 backend"},
		{"pkcs11 without its block", map[string]any{"backend": "pkcs11"}, "pkcs11", "needs a pkcs11 block"},
		{"pkcs11 with top-level key_algorithm", map[string]any{"backend": "pkcs11", "key_algorithm": "rsa-2048", "pkcs11": okPKCS11Block()}, "key_algorithm", "only used by the managed backend"},
		{"pkcs11 with authority blocks", map[string]any{"backend": "pkcs11", "pkcs11": okPKCS11Block(), "authority": []map[string]string{{"type": "user"}}}, "authority", "only used by the file backend"},
		{"pkcs11 module missing", pkcs11BlockWith("module", ""), "pkcs11.module", "module is required"},
		{"pkcs11 module relative", pkcs11BlockWith("module", "libsofthsm2.so"), "pkcs11.module", `"libsofthsm2.so" is not an absolute path`},
		{"pkcs11 token_label missing", pkcs11BlockWith("token_label", ""), "pkcs11.token_label", "token_label is required"},
		{"pkcs11 pin_file missing", pkcs11BlockWith("pin_file", ""), "pkcs11.pin_file", "pin_file is required"},
		{"pkcs11 unknown key algorithm", pkcs11BlockWith("key_algorithm", "rsa-4096"), "pkcs11.key_algorithm", `unknown key algorithm "rsa-4096" for the pkcs11 backend`},
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

// okPKCS11Block is a pkcs11 block that passes the checks needing no file.
func okPKCS11Block() map[string]string {
	return map[string]string{"module": "/usr/lib/softhsm/libsofthsm2.so", "token_label": "keyway", "pin_file": "/etc/keyway/pin"}
}

// pkcs11BlockWith is a pkcs11 backend configuration whose block has
// attribute set to value ("" leaves it out).
func pkcs11BlockWith(attribute, value string) map[string]any {
	block := okPKCS11Block()
	delete(block, attribute)
	if value != "" {
		block[attribute] = value
	}
	return map[string]any{"backend": "pkcs11", "pkcs11": block}
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
