package config

import (
	"testing"
	"time"
)

func TestAgentCertTTL(t *testing.T) {
	tests := []struct {
		name, attr string
		want       time.Duration
		err        string
	}{
		{"default", "", DefaultAgentCertTTL, ""},
		{"days", `agent_cert_ttl = "240h"`, 240 * time.Hour, ""},
		{"short for tests", `agent_cert_ttl = "10s"`, 10 * time.Second, ""},
		{"too short", `agent_cert_ttl = "9s"`, 0, "k.hcl:5:20: error: Invalid agent certificate lifetime"},
		{"not a duration", `agent_cert_ttl = "a month"`, 0, "error: Invalid agent certificate lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadCase(t, head+"auth {\n  authz_plugin = \"postgres\"\n  "+tt.attr+"\n}\n", tt.err)
			if cfg == nil {
				return
			}
			if got := cfg.Auth.AgentCertLifetime(); got != tt.want {
				t.Fatalf("lifetime %s, want %s", got, tt.want)
			}
		})
	}
}
