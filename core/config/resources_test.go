package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/core/access"
)

// agentWith is an agent configuration whose db block holds body.
func agentWith(body string) string {
	return "data_dir = \"/d\"\ndb {\n  proxy_addr = \"proxy:3080\"\n" + body + "}\n"
}

func TestResourcesSelectors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []access.LabelSelector
	}{
		{"one label", "  resources {\n    labels = { env = \"dev\" }\n  }\n",
			[]access.LabelSelector{{"env": {"dev"}}}},
		{"patterns and lists", "  resources {\n    labels = { env = [\"dev\", \"stag*\"], region = \"^eu-.*$\" }\n  }\n",
			[]access.LabelSelector{{"env": {"dev", "stag*"}, "region": {"^eu-.*$"}}}},
		{"every db resource", "  resources {\n    labels = { \"*\" = \"*\" }\n  }\n",
			[]access.LabelSelector{{"*": {"*"}}}},
		{"several blocks", "  resources {\n    labels = { env = \"dev\" }\n  }\n  resources {\n    labels = { team = \"shop\" }\n  }\n",
			[]access.LabelSelector{{"env": {"dev"}}, {"team": {"shop"}}}},
		{"none", "", []access.LabelSelector{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := load(t, agentWith(tt.body))
			if errs != "" {
				t.Fatal(errs)
			}
			if got := cfg.DB.Selectors(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("selectors %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResourcesErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"no labels", "  resources {\n  }\n", `k.hcl:4:13: error: Missing label selector`},
		{"empty labels", "  resources {\n    labels = {}\n  }\n", `k.hcl:5:14: error: Empty label selector`},
		{"not a map", "  resources {\n    labels = \"env=dev\"\n  }\n", `k.hcl:5:14: error: Invalid label selector`},
		{"a number", "  resources {\n    labels = { env = 1 }\n  }\n", `k.hcl:5:22: error: Invalid label patterns: Label "env" needs a pattern`},
		{"an empty list", "  resources {\n    labels = { env = [] }\n  }\n", `k.hcl:5:22: error: Invalid label patterns`},
		{"a bad regular expression", "  resources {\n    labels = { env = \"^(dev$\" }\n  }\n", `k.hcl:5:22: error: Invalid label pattern: Label "env": "^(dev$" is not a valid regular expression`},
		{"a variable", "  resources {\n    labels = { env = var.env }\n  }\n", `k.hcl:5:22: error: Variables not allowed`},
		{"unknown attribute", "  resources {\n    labels = { env = \"dev\" }\n    names = [\"x\"]\n  }\n", `k.hcl:6:5: error: Unsupported argument`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := load(t, agentWith(tt.body))
			if cfg != nil {
				t.Fatal("config accepted")
			}
			if !strings.Contains(errs, tt.want) {
				t.Fatalf("errors:\n%s\nwant %q", errs, tt.want)
			}
		})
	}
}
