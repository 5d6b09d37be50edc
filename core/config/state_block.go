package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// State chooses the auth role's state backend: the embedded store under
// data_dir (default) or etcd, for several auth/proxy instances.
type State struct {
	// Backend is "embedded" (default) or "etcd".
	Backend   string   `hcl:"backend,optional"`
	Endpoints []string `hcl:"endpoints,optional"`
	Prefix    string   `hcl:"prefix,optional"`
	CAFile    string   `hcl:"ca_file,optional"`
	CertFile  string   `hcl:"cert_file,optional"`
	KeyFile   string   `hcl:"key_file,optional"`

	DeclRange hcl.Range `hcl:",def_range"`
}

func (c *Config) checkState(body hcl.Body) hcl.Diagnostics {
	s := c.State
	if s == nil {
		return nil
	}
	at := func(attr string) hcl.Range { return nestedAttrRange(body, s.DeclRange, attr) }
	switch s.Backend {
	case "", "embedded":
		if len(s.Endpoints) > 0 {
			return hcl.Diagnostics{errorAt(at("endpoints"), "Endpoints without etcd", `endpoints are for backend = "etcd".`)}
		}
	case "etcd":
		if len(s.Endpoints) == 0 {
			return hcl.Diagnostics{errorAt(at("backend"), "Missing etcd endpoints", "The etcd backend needs endpoints, e.g. [\"http://127.0.0.1:2379\"].")}
		}
		if (s.CertFile == "") != (s.KeyFile == "") {
			return hcl.Diagnostics{errorAt(at("cert_file"), "Incomplete client certificate", "Give both cert_file and key_file, or neither.")}
		}
	default:
		return hcl.Diagnostics{errorAt(at("backend"), "Unknown state backend", fmt.Sprintf("backend = %q; use embedded or etcd.", s.Backend))}
	}
	if c.Auth == nil {
		return hcl.Diagnostics{errorAt(s.DeclRange, "State without the auth role", "A state block is read by the auth role; add an auth block or remove it.")}
	}
	return nil
}
