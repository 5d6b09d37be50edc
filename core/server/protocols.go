package server

import (
	"fmt"
	"net"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/proxy"
	"github.com/keyway-dev/keyway/core/supervisor"
)

// sharedPortProtocols is the proxy's table of preambles: each protocol
// plugin's, under its first protocol name.
func sharedPortProtocols(ps []supervisor.Protocol) []proxy.Protocol {
	var out []proxy.Protocol
	seen := map[*supervisor.Instance]bool{}
	for _, p := range ps {
		if seen[p.Instance] || len(p.Spec.Preambles) == 0 {
			continue
		}
		seen[p.Instance] = true
		out = append(out, proxy.Protocol{Name: p.Name, Preambles: p.Spec.Preambles})
	}
	return out
}

// checkOwnPorts matches the proxy's protocol blocks with the plugins:
// each must name a protocol whose plugin declared a port of its own.
// It returns the protocols with a port of their own that have no block,
// whose clients cannot reach this proxy.
func checkOwnPorts(cfg []config.ProxyProtocol, ps []supervisor.Protocol) (unreachable []string, err error) {
	own := map[string]bool{}
	for _, p := range ps {
		if p.Spec.OwnPort {
			own[p.Name] = true
		}
	}
	configured := map[string]bool{}
	for _, c := range cfg {
		if !own[c.Name] {
			return nil, fmt.Errorf("%s: proxy { protocol %q } names no loaded protocol plugin that declares a port of its own; load one with a plugin %q block, or remove the protocol block", c.DeclRange, c.Name, c.Name)
		}
		configured[c.Name] = true
	}
	seen := map[*supervisor.Instance]bool{}
	for _, p := range ps {
		if p.Spec.OwnPort && !seen[p.Instance] {
			seen[p.Instance] = true
			reached := false
			for _, n := range p.Spec.Names {
				reached = reached || configured[n]
			}
			if !reached {
				unreachable = append(unreachable, p.Name)
			}
		}
	}
	return unreachable, nil
}

// protocolClient says how clients of the protocol called name connect,
// as its plugin declared: the client to run, and the proxy's own port for
// the protocol, with the proxy's public host.
func (n *node) protocolClient(name string) (*apiv1.Client, bool) {
	for _, p := range n.sup.Protocols() {
		if p.Name != name {
			continue
		}
		c := p.Spec.Client
		out := &apiv1.Client{Command: c.Command, Args: c.Args, Env: c.Env, Config: c.Config, Install: c.Install}
		if n.cfg.Proxy != nil {
			for _, pp := range n.cfg.Proxy.Protocols {
				if pp.Name == name {
					out.Address = ownPortAddress(n.cfg.Proxy.PublicAddr, pp.Listen)
				}
			}
		}
		return out, true
	}
	return nil, false
}

// ownPortAddress is where clients reach a protocol's own port: the host
// of the proxy's public address and the port the protocol listens on.
func ownPortAddress(publicAddr, listen string) string {
	host, _, err := net.SplitHostPort(publicAddr)
	if err != nil {
		return listen
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	return net.JoinHostPort(host, port)
}
