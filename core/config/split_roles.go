package config

import (
	"fmt"
	"net"

	"github.com/hashicorp/hcl/v2"
)

// checkSplitRoles checks the blocks of an auth service with a port of
// its own and of a proxy that runs without the auth role.
func (c *Config) checkSplitRoles(body hcl.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if a := c.Auth; a != nil {
		for _, attr := range []struct{ name, value string }{{"listen", a.Listen}, {"public_addr", a.PublicAddr}} {
			if attr.value == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(attr.value); err != nil {
				diags = append(diags, errorAt(nestedAttrRange(body, a.DeclRange, attr.name), "Invalid auth address",
					fmt.Sprintf("auth { %s = %q } is not HOST:PORT (%v).", attr.name, attr.value, err)))
			}
		}
		if a.PublicAddr != "" && a.Listen == "" {
			diags = append(diags, errorAt(nestedAttrRange(body, a.DeclRange, "public_addr"), "Auth address without a port",
				"auth { public_addr } names where proxies reach the auth service's own port; set listen too."))
		}
	}
	p := c.Proxy
	if p == nil {
		return diags
	}
	at := func(attr string) hcl.Range { return nestedAttrRange(body, p.DeclRange, attr) }
	if c.Auth != nil {
		if len(p.AuthAddrs) > 0 || p.TokenFile != "" || p.Name != "" {
			diags = append(diags, errorAt(at("auth_addrs"), "Proxy joins an auth service in its own process",
				"auth_addrs, token_file and name are for a proxy without an auth block; this process runs the auth role itself, so remove them."))
		}
		return diags
	}
	if len(p.AuthAddrs) == 0 {
		// keyway start refuses a proxy with neither (ProxyWithoutAuth);
		// a file checked on its own may be completed elsewhere.
		if p.TokenFile != "" || p.Name != "" {
			diags = append(diags, errorAt(at("token_file"), "Proxy token without an auth service",
				"token_file and name are for a proxy that joins an auth service in another process: give auth_addrs too (the auth service's auth { listen } ports)."))
		}
		return diags
	}
	for _, addr := range p.AuthAddrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			diags = append(diags, errorAt(at("auth_addrs"), "Invalid auth address",
				fmt.Sprintf("auth_addrs holds %q, which is not HOST:PORT (%v).", addr, err)))
		}
	}
	if p.TokenFile == "" {
		diags = append(diags, errorAt(at("auth_addrs"), "Missing proxy token",
			"A proxy without an auth block joins the cluster on its first start: set token_file to a file holding a token from keyway tokens add --type=proxy."))
	}
	if p.Name != "" && !namePattern.MatchString(p.Name) {
		diags = append(diags, errorAt(at("name"), "Invalid proxy name",
			fmt.Sprintf("%q is not a valid host name for the proxy: use lower-case letters, digits, '-' and '_', starting with a letter.", p.Name)))
	}
	if len(p.Protocols) > 0 {
		diags = append(diags, errorAt(p.Protocols[0].DeclRange, "Protocol port on a proxy without the auth role",
			"A proxy without an auth block serves the shared port only: protocols with ports of their own need their plugin's serving certificate, which only a proxy with the auth role in its process has yet. Serve them from a proxy with an auth block."))
	}
	if c.DB != nil {
		diags = append(diags, errorAt(c.DB.DeclRange, "Databases on a proxy without the auth role",
			"A proxy without an auth block routes sessions to agents only: run the db block as an agent of its own (db { proxy_addr }) that joins through this proxy."))
	}
	return diags
}

// ProxyWithoutAuth is why a proxy block cannot run in a process without
// an auth block and without auth_addrs.
const ProxyWithoutAuth = "the proxy role needs the auth service: add an auth block to this process, or give the proxy block auth_addrs (the auth service's auth { listen } ports) and token_file (a token from keyway tokens add --type=proxy)"
