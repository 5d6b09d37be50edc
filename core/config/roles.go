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
	seen := map[string]bool{}
	for _, db := range c.DB.Databases {
		rng := db.DeclRange
		if seen[db.Name] {
			diags = append(diags, errorAt(rng, "Duplicate database", fmt.Sprintf("Database %q is configured twice.", db.Name)))
		}
		seen[db.Name] = true
		if !namePattern.MatchString(db.Name) {
			diags = append(diags, errorAt(rng, "Invalid database name",
				fmt.Sprintf("%q is not a valid database name: use lower-case letters, digits, '-' and '_', starting with a letter.", db.Name)))
		}
		if c.Plugin(db.Protocol) == nil && !slices.Contains(builtins, db.Protocol) {
			diags = append(diags, errorAt(rng, "Unknown protocol plugin",
				fmt.Sprintf("Database %q names protocol %q, which is neither built in nor configured in a plugin block.", db.Name, db.Protocol)))
		}
		if _, _, err := net.SplitHostPort(db.URI); err != nil {
			diags = append(diags, errorAt(rng, "Invalid database address", fmt.Sprintf("Database %q: uri = %q is not HOST:PORT (%v).", db.Name, db.URI, err)))
		}
		if db.CACertFile != "" && db.TrustSystemCertPool {
			diags = append(diags, errorAt(rng, "Conflicting trust settings",
				fmt.Sprintf("Database %q sets both ca_cert_file and trust_system_cert_pool; choose one.", db.Name)))
		}
		if db.Mode != "" && db.Mode != "verify-full" && db.Mode != "verify-ca" {
			diags = append(diags, errorAt(rng, "Invalid trust mode", fmt.Sprintf("Database %q: mode = %q; use verify-full or verify-ca.", db.Name, db.Mode)))
		}
	}
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
