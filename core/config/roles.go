package config

import (
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// checkRoles validates the auth, proxy and db blocks.
func (c *Config) checkRoles(body hcl.Body, builtins []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if c.Auth != nil {
		if c.Auth.AuthzPlugin == "" {
			c.Auth.AuthzPlugin = DefaultAuthzPlugin
		}
		if c.Auth.AgentCertTTL != "" {
			if d, err := time.ParseDuration(c.Auth.AgentCertTTL); err != nil || d < MinAgentCertTTL {
				diags = append(diags, errorAt(nestedAttrRange(body, c.Auth.DeclRange, "agent_cert_ttl"), "Invalid agent certificate lifetime",
					fmt.Sprintf("agent_cert_ttl = %q is not a duration of at least %s such as 720h.", c.Auth.AgentCertTTL, MinAgentCertTTL)))
			}
		}
		if c.Auth.LoginRate != "" {
			if _, err := ParseRate(c.Auth.LoginRate); err != nil {
				diags = append(diags, errorAt(nestedAttrRange(body, c.Auth.DeclRange, "login_rate"), "Invalid login rate",
					fmt.Sprintf("login_rate = %v.", err)))
			}
		}
		if c.Plugin(c.Auth.AuthzPlugin) == nil && !slices.Contains(builtins, c.Auth.AuthzPlugin) {
			diags = append(diags, errorAt(nestedAttrRange(body, c.Auth.DeclRange, "authz_plugin"), "Unknown authorisation plugin",
				fmt.Sprintf("authz_plugin names %q, which is neither built in nor configured in a plugin block.", c.Auth.AuthzPlugin)))
		}
	}
	if c.Proxy != nil {
		if _, _, err := net.SplitHostPort(c.Proxy.Listen); err != nil {
			diags = append(diags, errorAt(nestedAttrRange(body, c.Proxy.DeclRange, "listen"), "Invalid proxy address",
				fmt.Sprintf("listen = %q is not HOST:PORT (%v).", c.Proxy.Listen, err)))
		}
		if c.Proxy.HandshakeTimeout != "" {
			if d, err := time.ParseDuration(c.Proxy.HandshakeTimeout); err != nil || d <= 0 {
				diags = append(diags, errorAt(nestedAttrRange(body, c.Proxy.DeclRange, "handshake_timeout"), "Invalid handshake timeout",
					fmt.Sprintf("handshake_timeout = %q is not a positive duration such as 10s.", c.Proxy.HandshakeTimeout)))
			}
		}
		if c.Proxy.APIRate != "" {
			if _, err := ParseRate(c.Proxy.APIRate); err != nil {
				diags = append(diags, errorAt(nestedAttrRange(body, c.Proxy.DeclRange, "api_rate"), "Invalid API rate",
					fmt.Sprintf("api_rate = %v.", err)))
			}
		}
		if c.Proxy.APIIdleTimeout != "" {
			if d, err := time.ParseDuration(c.Proxy.APIIdleTimeout); err != nil || d <= 0 {
				diags = append(diags, errorAt(nestedAttrRange(body, c.Proxy.DeclRange, "api_idle_timeout"), "Invalid API idle timeout",
					fmt.Sprintf("api_idle_timeout = %q is not a positive duration such as 5m.", c.Proxy.APIIdleTimeout)))
			}
		}
		for _, f := range []struct {
			name  string
			value *int
		}{{"max_unauthenticated", c.Proxy.MaxUnauthenticated}, {"max_unauthenticated_per_address", c.Proxy.MaxUnauthenticatedPerAddress}} {
			if f.value != nil && *f.value < 1 {
				diags = append(diags, errorAt(nestedAttrRange(body, c.Proxy.DeclRange, f.name), "Invalid connection limit",
					fmt.Sprintf("%s = %d must be at least 1: it is how many connections may be in their handshake at once.", f.name, *f.value)))
			}
		}
		seen := map[string]bool{}
		for _, pp := range c.Proxy.Protocols {
			if _, _, err := net.SplitHostPort(pp.Listen); err != nil {
				diags = append(diags, errorAt(nestedAttrRange(body, pp.DeclRange, "listen"), "Invalid protocol address",
					fmt.Sprintf("listen = %q is not HOST:PORT (%v).", pp.Listen, err)))
			}
			if seen[pp.Name] {
				diags = append(diags, errorAt(pp.DeclRange, "Duplicate protocol port",
					fmt.Sprintf("protocol %q has a port already; give each protocol one protocol block.", pp.Name)))
			}
			seen[pp.Name] = true
		}
		if c.Proxy.PublicAddr == "" {
			c.Proxy.PublicAddr = c.Proxy.Listen
		} else if _, _, err := net.SplitHostPort(c.Proxy.PublicAddr); err != nil {
			diags = append(diags, errorAt(nestedAttrRange(body, c.Proxy.DeclRange, "public_addr"), "Invalid public address",
				fmt.Sprintf("public_addr = %q is not HOST:PORT (%v).", c.Proxy.PublicAddr, err)))
		}
	}
	if c.DB != nil {
		diags = append(diags, c.checkDB(body, builtins)...)
	}
	return diags
}

func (c *Config) checkDB(body hcl.Body, builtins []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if c.DB.ProxyAddr == "" && (c.Auth == nil || c.Proxy == nil) {
		diags = append(diags, errorAt(c.DB.DeclRange, "Agent without a proxy",
			"A db block needs proxy_addr (and token_file) to join a cluster, unless auth and proxy blocks run in the same process."))
	}
	if c.DB.ProxyAddr != "" {
		if _, _, err := net.SplitHostPort(c.DB.ProxyAddr); err != nil {
			diags = append(diags, errorAt(c.DB.DeclRange, "Invalid proxy address", fmt.Sprintf("proxy_addr = %q is not HOST:PORT (%v).", c.DB.ProxyAddr, err)))
		}
	}
	if n := c.DB.DataConnections; n != nil && (*n < 0 || *n > MaxDataConnections) {
		diags = append(diags, errorAt(nestedAttrRange(body, c.DB.DeclRange, "data_connections"), "Invalid data connections",
			fmt.Sprintf("data_connections = %d must be from 0 (every session through the tunnel) to %d.", *n, MaxDataConnections)))
	}
	seen := map[string]bool{}
	known := func(p string) bool { return c.Plugin(p) != nil || slices.Contains(builtins, p) }
	for _, db := range c.DB.Databases {
		if seen[db.Name] {
			diags = append(diags, errorAt(db.DeclRange, "Duplicate database", fmt.Sprintf("Database %q is configured twice.", db.Name)))
		}
		seen[db.Name] = true
		// An agent's own database blocks report at the block, as they
		// always have.
		for _, p := range databaseProblems(db, known) {
			diags = append(diags, errorAt(db.DeclRange, p.summary, p.detail))
		}
	}
	diags = append(diags, c.DB.checkResources()...)
	return diags
}

func errorAt(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

// nestedAttrRange finds attr in the unlabeled block declared at decl.
func nestedAttrRange(body hcl.Body, decl hcl.Range, attr string) hcl.Range {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return decl
	}
	for _, b := range sb.Blocks {
		if b.DefRange().Start == decl.Start {
			if a, ok := b.Body.Attributes[attr]; ok {
				return a.Expr.Range()
			}
		}
	}
	return decl
}
