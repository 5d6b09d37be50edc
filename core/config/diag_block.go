package config

import (
	"fmt"
	"net"

	"github.com/hashicorp/hcl/v2"
)

// Diag configures the diagnostic address: /metrics, /healthz, /readyz.
type Diag struct {
	Listen string `hcl:"listen"`

	DeclRange hcl.Range `hcl:",def_range"`
}

func (c *Config) checkDiag(body hcl.Body) hcl.Diagnostics {
	if c.Diag == nil {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Diag.Listen); err != nil {
		return hcl.Diagnostics{errorAt(nestedAttrRange(body, c.Diag.DeclRange, "listen"), "Invalid diagnostic address",
			fmt.Sprintf("listen = %q is not HOST:PORT (%v).", c.Diag.Listen, err))}
	}
	return nil
}
