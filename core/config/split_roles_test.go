package config

import (
	"strings"
	"testing"
)

// TestSplitRoles checks the blocks of an auth service with a port of its
// own and of a proxy without the auth role: what is accepted, and the
// error for each misfit.
func TestSplitRoles(t *testing.T) {
	const proxyOnly = "data_dir = \"/d\"\nproxy {\n  listen = \"127.0.0.1:3080\"\n  auth_addrs = [\"10.0.0.1:3025\"]\n  token_file = \"/t\"\n  %s\n}\n"
	tests := []struct {
		name, src, want string
	}{
		{"auth with a port", head + "auth {\n  authz_plugin = \"postgres\"\n  listen = \"0.0.0.0:3025\"\n  public_addr = \"auth.example.com:3025\"\n}\n", ""},
		{"auth address without a port", head + "auth {\n  authz_plugin = \"postgres\"\n  listen = \"3025\"\n}\n", "Invalid auth address"},
		{"public address without listen", head + "auth {\n  authz_plugin = \"postgres\"\n  public_addr = \"auth.example.com:3025\"\n}\n", "Auth address without a port"},
		{"proxy without auth, no cluster name", strings.Replace(proxyOnly, "%s", "name = \"proxy-1\"", 1), ""},
		{"proxy without a token", "data_dir = \"/d\"\nproxy {\n  listen = \"127.0.0.1:3080\"\n  auth_addrs = [\"10.0.0.1:3025\"]\n}\n", "Missing proxy token"},
		{"bad auth address", "data_dir = \"/d\"\nproxy {\n  listen = \"127.0.0.1:3080\"\n  auth_addrs = [\"nowhere\"]\n  token_file = \"/t\"\n}\n", "Invalid auth address"},
		{"bad proxy name", strings.Replace(proxyOnly, "%s", "name = \"Proxy 1\"", 1), "Invalid proxy name"},
		{"token without auth addresses", head + "proxy {\n  listen = \"127.0.0.1:3080\"\n  token_file = \"/t\"\n}\n", "Proxy token without an auth service"},
		{"auth addresses beside an auth block", head + "auth {\n  authz_plugin = \"postgres\"\n}\nproxy {\n  listen = \"127.0.0.1:3080\"\n  auth_addrs = [\"10.0.0.1:3025\"]\n}\n", "Proxy joins an auth service in its own process"},
		{"own protocol port", strings.Replace(proxyOnly, "%s", "protocol \"postgres\" {\n    listen = \"127.0.0.1:3306\"\n  }", 1), "Protocol port on a proxy without the auth role"},
		{"databases", strings.Replace(proxyOnly, "%s", "", 1) + "db {\n  proxy_addr = \"127.0.0.1:3080\"\n  token_file = \"/t\"\n}\n", "Databases on a proxy without the auth role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := load(t, tt.src)
			if tt.want == "" {
				if errs != "" {
					t.Fatalf("refused: %s", errs)
				}
				return
			}
			if !strings.Contains(errs, tt.want) {
				t.Fatalf("errors %q, want %q", errs, tt.want)
			}
		})
	}
	cfg, errs := load(t, strings.Replace(proxyOnly, "%s", "", 1))
	if errs != "" || !cfg.Proxy.Remote() || cfg.ClusterName != "" {
		t.Fatalf("a proxy without the auth role: remote %v, cluster %q, %s", cfg.Proxy.Remote(), cfg.ClusterName, errs)
	}
}
