// Package server runs a keyway process: the roles its configuration
// enables (auth, proxy, database agent), the plugins they use, the
// listeners and the admin socket, and stops it all in order when its
// context ends.
package server

import (
	"context"
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
)

// Options configure Run.
type Options struct {
	Config   *config.Config
	Builtins supervisor.Builtins
	Logger   hclog.Logger
	Version  string
	// Policy overrides the supervisor's default restart policy.
	Policy supervisor.Policy
	// Ready, when set, is called once every part serves: the admin
	// socket, the public ports and the plugins answer from then on.
	Ready func()
}

// Run provisions the process, then serves until ctx ends, then shuts
// down. Provisioning runs in order: the admin socket and the public
// ports are bound (so a taken port or a second keyway on the same data
// directory fails at once), an agent joins its cluster, the shared parts
// (metrics, audit log, supervisor) are made, then the auth role, this
// process's databases and the agent role, then the plugins start, then
// the proxy role and the plugin listeners are built on them. Nothing is
// changed after the plugins started. Every role, the admin socket and
// the diagnostics then run under one errgroup with ctx: a part that
// fails ends the process with its error, and the others stop. At the
// end the roles have stopped accepting; the plugins stop next, their
// audit pipes drained, then the agent's tunnels and the state backend
// close, and the audit log closes last.
func Run(ctx context.Context, opts Options) error {
	raiseFileLimit(opts.Logger)
	p, err := provision(ctx, opts)
	if err != nil {
		p.stop()
		return err
	}
	err = p.run(ctx, opts.Ready)
	p.stop()
	return err
}

// Specs returns the launch specs for cfg: every built-in and external
// plugin, with the kind required of those the configuration uses.
func Specs(cfg *config.Config, b supervisor.Builtins) []supervisor.Spec {
	specs := supervisor.SpecsFor(cfg, b)
	if agentOnly(cfg) || cfg.Proxy.Remote() {
		// An agent, or a proxy without the auth role, signs nothing and
		// decides nothing itself.
		kept := specs[:0]
		for _, s := range specs {
			if !(s.Builtin && (s.Name == cfg.CAPlugin || s.Name == config.DefaultAuthzPlugin) && cfg.Plugin(s.Name) == nil) {
				kept = append(kept, s)
			}
		}
		specs = kept
	}
	for i := range specs {
		name := specs[i].Name
		if name == cfg.CAPlugin {
			specs[i].Kind = sdk.KindCA
		}
		if cfg.Auth != nil && name == cfg.Auth.AuthzPlugin {
			specs[i].Kind = sdk.KindAuthz
		}
		for _, l := range cfg.Listeners {
			if l.Protocol == name {
				specs[i].Kind = sdk.KindProtocol
			}
		}
		if cfg.DB != nil {
			for _, db := range cfg.DB.Databases {
				if db.Protocol == name {
					specs[i].Kind = sdk.KindProtocol
				}
			}
		}
	}
	return specs
}

// bound holds the sockets bound before anything starts, so a taken port
// fails fast.
type bound struct {
	plugin []net.Listener
	proxy  net.Listener
	// own are the protocols' own ports, as cfg.Proxy.Protocols lists them.
	own []net.Listener
	// auth is the auth service's own port; nil without auth { listen }.
	auth net.Listener
}

func (b bound) all() []net.Listener {
	out := append([]net.Listener(nil), b.plugin...)
	if b.proxy != nil {
		out = append(out, b.proxy)
	}
	if b.auth != nil {
		out = append(out, b.auth)
	}
	return append(out, b.own...)
}

func bind(cfg *config.Config) (bound, error) {
	var b bound
	for _, l := range cfg.Listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			closeAll(b.all())
			return bound{}, fmt.Errorf("listener %q cannot listen on %s: %w", l.Name, l.Address, err)
		}
		b.plugin = append(b.plugin, ln)
	}
	if cfg.Proxy != nil {
		ln, err := net.Listen("tcp", cfg.Proxy.Listen)
		if err != nil {
			closeAll(b.all())
			return bound{}, fmt.Errorf("the proxy cannot listen on %s: %w", cfg.Proxy.Listen, err)
		}
		b.proxy = ln
		for _, pp := range cfg.Proxy.Protocols {
			ln, err := net.Listen("tcp", pp.Listen)
			if err != nil {
				closeAll(b.all())
				return bound{}, fmt.Errorf("the proxy cannot listen on %s for protocol %q: %w", pp.Listen, pp.Name, err)
			}
			b.own = append(b.own, ln)
		}
	}
	if cfg.Auth != nil && cfg.Auth.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Auth.Listen)
		if err != nil {
			closeAll(b.all())
			return bound{}, fmt.Errorf("the auth service cannot listen on %s: %w", cfg.Auth.Listen, err)
		}
		b.auth = ln
	}
	return b, nil
}

func closeAll(ls []net.Listener) {
	for _, ln := range ls {
		_ = ln.Close()
	}
}

// agentOnly reports whether cfg is a database agent that joins a cluster
// through a proxy, with no auth role of its own.
func agentOnly(cfg *config.Config) bool {
	return cfg.Auth == nil && cfg.DB != nil && cfg.DB.ProxyAddr != ""
}
