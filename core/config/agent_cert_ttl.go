package config

import "time"

// Lifetimes of agents' host certificates (auth { agent_cert_ttl }).
const (
	// DefaultAgentCertTTL is 30 days.
	DefaultAgentCertTTL = 30 * 24 * time.Hour
	// MinAgentCertTTL is the shortest lifetime accepted. Lifetimes this
	// short exist for tests of renewal: an agent renews with a third of
	// the lifetime left, so it must reach a proxy within seconds.
	MinAgentCertTTL = 10 * time.Second
)

// AgentCertLifetime returns the lifetime of agents' host certificates:
// agent_cert_ttl, or DefaultAgentCertTTL when unset. The value was
// checked when the configuration was loaded.
func (a *Auth) AgentCertLifetime() time.Duration {
	if a == nil || a.AgentCertTTL == "" {
		return DefaultAgentCertTTL
	}
	d, err := time.ParseDuration(a.AgentCertTTL)
	if err != nil || d < MinAgentCertTTL {
		return DefaultAgentCertTTL
	}
	return d
}
