package config

import (
	"strings"
	"testing"
	"time"
)

func TestProxyLimitDefaultsAndOverrides(t *testing.T) {
	tests := []struct {
		name         string
		block        string
		total, perIP int
		idle         time.Duration
	}{
		{"defaults", ``, DefaultMaxUnauthenticated, DefaultMaxUnauthenticatedPerAddress, DefaultAPIIdleTimeout},
		{"set", "max_unauthenticated = 100\n  max_unauthenticated_per_address = 7\n  api_idle_timeout = \"30s\"", 100, 7, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := load(t, head+"proxy {\n  listen = \"127.0.0.1:1\"\n  "+tt.block+"\n}\n")
			if errs != "" {
				t.Fatal(errs)
			}
			total, perIP := cfg.Proxy.Unauthenticated()
			if total != tt.total || perIP != tt.perIP || cfg.Proxy.APIIdle() != tt.idle {
				t.Fatalf("got total %d, per address %d, idle %s", total, perIP, cfg.Proxy.APIIdle())
			}
		})
	}
}

func TestProxyLimitErrors(t *testing.T) {
	tests := []struct{ name, attr, want string }{
		{"zero total", "max_unauthenticated = 0", "k.hcl:5:25: error: Invalid connection limit"},
		{"negative per address", "max_unauthenticated_per_address = -1", "error: Invalid connection limit: max_unauthenticated_per_address = -1 must be at least 1"},
		{"bad idle timeout", "api_idle_timeout = \"soon\"", "k.hcl:5:22: error: Invalid API idle timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := load(t, head+"proxy {\n  listen = \"127.0.0.1:1\"\n  "+tt.attr+"\n}\n")
			if cfg != nil {
				t.Fatal("config accepted")
			}
			if !strings.Contains(errs, tt.want) {
				t.Fatalf("errors:\n%s\nwant %q", errs, tt.want)
			}
		})
	}
}
