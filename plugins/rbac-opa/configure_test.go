package rbacopa

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

func TestInfoAndSchema(t *testing.T) {
	p := New()
	if info := p.Info(); info.Name != "rbac-opa" || info.Kind != sdk.KindAuthz {
		t.Fatalf("Info = %+v", info)
	}
	if _, ok := p.(sdk.AuthzPlugin); !ok {
		t.Fatal("the plugin is no sdk.AuthzPlugin")
	}
	attrs := p.ConfigSchema().Attributes
	if len(attrs) != 1 || attrs[0].Name != "policy_files" || attrs[0].Type != sdk.TypeStringList || attrs[0].Required {
		t.Fatalf("schema attributes = %+v", attrs)
	}
}

func TestHealth(t *testing.T) {
	p := &Plugin{}
	if err := p.Health(context.Background()); err == nil {
		t.Fatal("Health is nil before a policy is compiled")
	}
	if err := p.Configure(context.Background(), sdk.ConfigureRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Health(context.Background()); err != nil {
		t.Fatalf("Health after Configure: %v", err)
	}
}

// TestCompiledOnce checks that Configure prepares the query and that
// decisions reuse it: the compile counter moves only with Configure, and
// the engine Authorize uses stays the same.
func TestCompiledOnce(t *testing.T) {
	p := configured(t, writePolicy(t, "frozen.rego", frozen))
	if n := p.compiles.Load(); n != 1 {
		t.Fatalf("compilations after Configure = %d, want 1", n)
	}
	engine := p.engine.Load()
	for range 50 {
		decide(t, p, request{roles: []string{"access"}, dbUser: "postgres", dbName: "app"})
		decide(t, p, request{action: "admin", roles: []string{"editor"}})
	}
	if n := p.compiles.Load(); n != 1 {
		t.Fatalf("compilations after 100 decisions = %d, want 1", n)
	}
	if p.engine.Load() != engine {
		t.Fatal("Authorize replaced the compiled policy")
	}
	if err := p.Configure(context.Background(), configRequest(t)); err != nil {
		t.Fatal(err)
	}
	if n := p.compiles.Load(); n != 2 {
		t.Fatalf("compilations after a second Configure = %d, want 2", n)
	}
}

func TestConfigureDiagnostics(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		src  string // "" with file "missing" means no file at all
		file string
		want []string // substrings of the first diagnostic's summary
	}{
		{
			name: "syntax error",
			file: "syntax.rego",
			src:  "package keyway.custom\n\ndeny contains msg if {\n\tmsg := \n}\n",
			want: []string{"syntax.rego:5: ", "unexpected } token"},
		},
		{
			name: "unsafe variable",
			file: "unsafe.rego",
			src:  "package keyway.custom\n\ndeny contains msg if {\n\tinput.x == 1\n}\n",
			want: []string{"unsafe.rego:3: ", "var msg is unsafe"},
		},
		{
			name: "unknown function",
			file: "unknown.rego",
			src:  "package keyway.custom\n\ndeny contains \"x\" if {\n\tnot_a_builtin(input.x)\n}\n",
			want: []string{"unknown.rego:4: ", "undefined function not_a_builtin"},
		},
		{
			name: "Rego v0 syntax",
			file: "v0.rego",
			src:  "package keyway.custom\n\ndeny[msg] { msg := \"x\" }\n",
			want: []string{"v0.rego:3: ", "`if` keyword is required"},
		},
		{
			name: "empty file",
			file: "empty.rego",
			src:  "",
			want: []string{"empty.rego: ", "empty module"},
		},
		{
			name: "only a comment",
			file: "comment.rego",
			src:  "# nothing here\n",
			want: []string{"comment.rego: "},
		},
		{
			name: "reserved package",
			file: "reserved.rego",
			src:  "package keyway.authz\n\ndecision := {\"allow\": true, \"reasons\": []}\n",
			want: []string{"reserved.rego:1: ", "reserved for the bundled policy"},
		},
		{
			name: "rule under the reserved package",
			file: "sneaky.rego",
			src:  "package keyway\n\nauthz.decision := {\"allow\": true, \"reasons\": []}\n",
			want: []string{"sneaky.rego:3: ", "reserved for the bundled policy"},
		},
		{
			name: "deny that is not a set",
			file: "boolean.rego",
			src:  "package keyway.custom\n\ndeny := true\n",
			want: []string{"boolean.rego:3: ", "data.keyway.custom.deny must be a set of messages"},
		},
		{
			name: "unreadable file",
			file: "missing",
			want: []string{"cannot read policy file", filepath.Join(dir, "missing")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if tt.file != "missing" {
				path = writePolicy(t, tt.file, tt.src)
			}
			p := &Plugin{}
			err := p.Configure(context.Background(), configRequest(t, path))
			var diags sdk.Diagnostics
			if !errors.As(err, &diags) {
				t.Fatalf("Configure error %v is no sdk.Diagnostics", err)
			}
			if len(diags) == 0 {
				t.Fatal("no diagnostic")
			}
			d := diags[0]
			if d.Path != "policy_files" {
				t.Errorf("diagnostic path = %q, want policy_files", d.Path)
			}
			if !strings.Contains(d.Summary, path) {
				t.Errorf("summary %q does not name %s", d.Summary, path)
			}
			for _, w := range tt.want {
				if !strings.Contains(d.Summary, w) {
					t.Errorf("summary %q lacks %q", d.Summary, w)
				}
			}
			if p.Health(context.Background()) == nil {
				t.Error("the plugin is healthy after a failed first Configure")
			}
		})
	}
}

func TestConfigureReportsEveryBadFile(t *testing.T) {
	good := writePolicy(t, "good.rego", frozen)
	bad1 := writePolicy(t, "bad1.rego", "package keyway.custom\n\ndeny contains if\n")
	bad2 := writePolicy(t, "bad2.rego", "package keyway.authz\n")
	err := (&Plugin{}).Configure(context.Background(), configRequest(t, good, bad1, "", bad2, good))
	var diags sdk.Diagnostics
	if !errors.As(err, &diags) {
		t.Fatalf("Configure error %v is no sdk.Diagnostics", err)
	}
	text := diags.Error()
	for _, want := range []string{"bad1.rego:3", "bad2.rego:1", "a policy file path is empty", good + " is listed twice"} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnostics %q lack %q", text, want)
		}
	}
}

func TestConfigureRefusesUnknownAttributes(t *testing.T) {
	err := (&Plugin{}).Configure(context.Background(), sdk.ConfigureRequest{Config: []byte(`{"policy_dir": "/etc"}`)})
	if err == nil {
		t.Fatal("Configure accepted an unknown attribute")
	}
}

func TestFailedReconfigureKeepsThePolicy(t *testing.T) {
	p := configured(t, writePolicy(t, "frozen.rego", frozen))
	bad := writePolicy(t, "bad.rego", "package keyway.custom\n\ndeny contains if\n")
	if err := p.Configure(context.Background(), configRequest(t, bad)); err == nil {
		t.Fatal("Configure accepted bad Rego")
	}
	if err := p.Health(context.Background()); err != nil {
		t.Fatalf("Health: %v", err)
	}
	frozenDev := database{"example-postgres", map[string]string{"env": "dev", "frozen": "true"}}
	if d := decide(t, p, request{roles: []string{"superuser"}, db: frozenDev, dbUser: "app"}); d.Allow {
		t.Fatal("the custom module of the previous configuration is gone")
	}
}
