package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

func load(t *testing.T, src string) (*Config, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := NewParser().Load(path, []string{"postgres", "ca-vault"})
	return cfg, FormatDiagnostics(diags)
}

// loadCase loads src and, when wantErr is set, checks that the load was
// refused with it and returns nil; otherwise the load must succeed.
func loadCase(t *testing.T, src, wantErr string) *Config {
	t.Helper()
	cfg, errs := load(t, src)
	if wantErr != "" {
		if cfg != nil || !strings.Contains(errs, wantErr) {
			t.Fatalf("errors:\n%s\nwant %q", errs, wantErr)
		}
		return nil
	}
	if errs != "" {
		t.Fatal(errs)
	}
	return cfg
}

const head = "cluster_name = \"c\"\ndata_dir = \"/d\"\n"

func TestLoadValid(t *testing.T) {
	cfg, errs := load(t, head+`log_level = "debug"
plugin "postgres" {
  log_level = "warn"
}
plugin "relay" {
  command = "/bin/relay"
  args    = ["-v"]
  sha256  = "`+strings.Repeat("a", 64)+`"
  config {
    upstream = "x:1"
  }
}
listener "web" {
  address  = "127.0.0.1:80"
  protocol = "relay"
}
`)
	if errs != "" {
		t.Fatal(errs)
	}
	if cfg.ClusterName != "c" || cfg.DataDir != "/d" || Level(cfg.LogLevel) != hclog.Debug {
		t.Fatalf("top level: %+v", cfg)
	}
	relay := cfg.Plugin("relay")
	if relay == nil || relay.Command != "/bin/relay" || len(relay.Args) != 1 || relay.Config == nil {
		t.Fatalf("relay block: %+v", relay)
	}
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Protocol != "relay" {
		t.Fatalf("listeners: %+v", cfg.Listeners)
	}
}

func TestLoadErrors(t *testing.T) {
	sum := strings.Repeat("a", 64)
	tests := []struct {
		name, src, want string
	}{
		{"missing cluster name", "data_dir = \"/d\"\n", "k.hcl:1:1: error: Missing cluster name"},
		{"bad cluster name", "cluster_name = \"A B\"\ndata_dir = \"/d\"\n", "k.hcl:1:16: error: Invalid cluster name"},
		{"bad log level", head + "log_level = \"loud\"\n", "k.hcl:3:13: error: Invalid log level"},
		{"unknown attribute", head + "colour = 1\n", "k.hcl:3:1: error: Unsupported argument"},
		{"unknown block", head + "gateway {}\n", "k.hcl:3:1: error: Unsupported block type"},
		{"external without command", head + "plugin \"relay\" {}\n", "k.hcl:3:1: error: Unknown plugin"},
		{"external without checksum", head + "plugin \"relay\" {\n  command = \"/x\"\n}\n", "error: Missing plugin checksum: External plugin \"relay\" needs sha256"},
		{"malformed checksum", head + "plugin \"relay\" {\n  command = \"/x\"\n  sha256 = \"abc\"\n}\n", "k.hcl:5:12: error: Invalid plugin checksum"},
		{"built-in with command", head + "plugin \"postgres\" {\n  command = \"/x\"\n}\n", "k.hcl:4:13: error: Built-in plugin with a command"},
		{"duplicate plugin", head + "plugin \"postgres\" {}\nplugin \"postgres\" {}\n", "k.hcl:4:1: error: Duplicate plugin block"},
		{"bad plugin name", head + "plugin \"Relay\" {\n  command = \"/x\"\n  sha256 = \"" + sum + "\"\n}\n", "error: Invalid plugin name"},
		{"bad plugin log level", head + "plugin \"postgres\" {\n  log_level = \"x\"\n}\n", "k.hcl:4:15: error: Invalid log level"},
		{"bad plugin start timeout", head + "plugin \"postgres\" {\n  start_timeout = \"soon\"\n}\n", "k.hcl:4:19: error: Invalid plugin start timeout: start_timeout of plugin \"postgres\" is \"soon\""},
		{"zero plugin start timeout", head + "plugin \"postgres\" {\n  start_timeout = \"0s\"\n}\n", "error: Invalid plugin start timeout"},
		{"listener without port", head + "listener \"l\" {\n  address = \"h\"\n  protocol = \"postgres\"\n}\n", "k.hcl:4:13: error: Invalid listener address"},
		{"listener unknown protocol", head + "listener \"l\" {\n  address = \"h:1\"\n  protocol = \"x\"\n}\n", "k.hcl:5:14: error: Unknown protocol plugin"},
		{"syntax", head + "plugin \"postgres\" {\n", "k.hcl:3:19: error: Unclosed configuration block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := load(t, tt.src)
			if cfg != nil {
				t.Fatal("config accepted")
			}
			if !strings.Contains(errs, tt.want) {
				t.Fatalf("errors:\n%s\nwant %q", errs, tt.want)
			}
		})
	}
}

func TestDecodePluginConfig(t *testing.T) {
	cfg, errs := load(t, head+`plugin "postgres" {
  config {
    name = "x"
    tags = ["a", "b"]
    tls {
      cert_file = "c"
    }
  }
}
`)
	if errs != "" {
		t.Fatal(errs)
	}
	schema := &pluginv1.Schema{
		Attributes: []*pluginv1.Attribute{
			{Name: "name", Type: "string", Required: true},
			{Name: "tags", Type: "list(string)"},
			{Name: "port", Type: "number"},
		},
		Blocks: []*pluginv1.Block{{Name: "tls", Body: &pluginv1.Schema{
			Attributes: []*pluginv1.Attribute{{Name: "cert_file", Type: "string"}},
		}}},
	}
	pl := cfg.Plugin("postgres")
	out, diags := pl.DecodePluginConfig(schema)
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(diags))
	}
	want := `{"name":"x","port":null,"tags":["a","b"],"tls":{"cert_file":"c"}}`
	if string(out) != want {
		t.Fatalf("json = %s, want %s", out, want)
	}
	if r := pl.PathRange("tls.cert_file"); r.Start.Line != 8 || r.Start.Column != 19 {
		t.Fatalf("tls.cert_file at %s", r)
	}
	if r := pl.PathRange("tls.key_file"); r.Start.Line != 7 {
		t.Fatalf("missing nested attribute should point at its block, got %s", r)
	}

	schema.Attributes[0].Type = "tuple"
	if _, diags := pl.DecodePluginConfig(schema); !strings.Contains(FormatDiagnostics(diags), `unsupported type "tuple"`) {
		t.Fatalf("bad schema: %s", FormatDiagnostics(diags))
	}
}

func TestDecodeWithoutConfigBlockReportsThePluginBlock(t *testing.T) {
	cfg, errs := load(t, head+"plugin \"postgres\" {}\n")
	if errs != "" {
		t.Fatal(errs)
	}
	_, diags := cfg.Plugin("postgres").DecodePluginConfig(&pluginv1.Schema{
		Attributes: []*pluginv1.Attribute{{Name: "name", Type: "string", Required: true}},
	})
	got := FormatDiagnostics(diags)
	if !strings.Contains(got, "k.hcl:3:1: error: Missing required argument") || !strings.Contains(got, `config block of plugin "postgres"`) {
		t.Fatalf("diagnostics: %s", got)
	}
}

func TestWriteDiagnosticsShowsTheLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.hcl")
	if err := os.WriteFile(path, []byte(head+"log_level = \"loud\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := NewParser()
	_, diags := p.Load(path, nil)
	var b strings.Builder
	if err := WriteDiagnostics(&b, p.Files(), diags); err != nil {
		t.Fatal(err)
	}
	want := "   3 | log_level = \"loud\"\n     |             ^^^^^^\n"
	if !strings.Contains(b.String(), want) {
		t.Fatalf("output:\n%s\nwant snippet:\n%s", b.String(), want)
	}
}
