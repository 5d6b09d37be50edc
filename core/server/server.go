// Package server runs a keyway process: the roles its configuration
// enables (auth, proxy, database agent), the plugins they use, the
// listeners and the admin socket, and stops it all in order when its
// context ends.
package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/listener"
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
}

// Run serves until ctx is cancelled, then shuts down: listeners first, so
// no new session starts, then the admin socket, then the plugins.
func Run(ctx context.Context, opts Options) error {
	cfg, logger := opts.Config, opts.Logger
	raiseFileLimit(logger)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	listeners, err := bind(cfg)
	if err != nil {
		return err
	}
	defer closeAll(listeners.all())

	warnAuditOff(cfg, logger)
	backend := &hostBackend{}
	sup := supervisor.New(supervisor.Options{
		Logger: logger, ClusterName: cfg.ClusterName, DataDir: cfg.DataDir, Policy: opts.Policy, Host: backend,
		AuditMaxParameterBytes: cfg.Audit.MaxParameterBytes, AuditDBEvents: cfg.Audit.DBEvents,
	})
	// The node's parts, the audit log among them, close after the
	// plugins stopped: a plugin's last audit events are recorded on its
	// way out (deferred calls run last first).
	n := &node{cfg: cfg, opts: opts, logger: logger, sup: sup, backend: backend}
	defer n.close()
	if err := sup.Start(ctx, Specs(cfg, opts.Builtins)); err != nil {
		return err
	}
	defer sup.Stop()
	if err := n.setup(ctx); err != nil {
		return err
	}

	// An agent joins before it reports ready.
	if err := n.startAgent(ctx); err != nil {
		return err
	}
	adm, err := admin.Listen(cfg.DataDir, n.adminSource())
	if err != nil {
		return err
	}
	adminDone := make(chan error, 1)
	go func() { adminDone <- adm.Serve() }()
	defer func() {
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = adm.Shutdown(shutCtx)
	}()

	served := make(chan error, len(listeners.all()))
	var ls []*listener.Listener
	for _, lc := range cfg.Listeners {
		in, err := sup.Protocol(lc.Protocol)
		if err != nil {
			return err
		}
		ls = append(ls, &listener.Listener{Name: lc.Name, Target: in, Logger: logger.Named("listener"), Metrics: n.metrics, HandoffTimeout: 10 * time.Second})
	}
	n.listeners.Store(&ls)
	for i, l := range ls {
		go func() { served <- l.Serve(listeners.plugin[i]) }()
		logger.Info("listening", "listener", l.Name, "address", listeners.plugin[i].Addr().String(), "protocol", cfg.Listeners[i].Protocol)
	}
	if listeners.proxy != nil {
		unreachable, err := checkOwnPorts(cfg.Proxy.Protocols, sup.Protocols())
		if err != nil {
			return err
		}
		for _, name := range unreachable {
			logger.Warn("clients of this protocol cannot reach this proxy: its plugin needs a port of its own", "protocol", name, "fix", fmt.Sprintf("add proxy { protocol %q { listen = \"HOST:PORT\" } }", name))
		}
		px, err := n.proxy(ctx)
		if err != nil {
			return err
		}
		go func() { served <- px.Serve(listeners.proxy) }()
		logger.Info("proxy listening", "address", listeners.proxy.Addr().String(), "public_addr", cfg.Proxy.PublicAddr, "protocols", px.ProtocolNames())
		for i, pp := range cfg.Proxy.Protocols {
			ln := listeners.own[i]
			go func() { served <- px.ServeOwnPort(ln, pp.Name) }()
			logger.Info("proxy listening", "protocol", pp.Name, "address", ln.Addr().String())
		}
	}
	logger.Info("keyway started", "cluster", cfg.ClusterName, "roles", n.roles(), "plugins", len(sup.Status()), "admin_socket", admin.SocketPath(cfg.DataDir))

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-adminDone:
		runErr = fmt.Errorf("admin socket: %w", err)
	case err := <-served:
		runErr = err
	}
	logger.Info("shutting down")
	closeAll(listeners.all())
	return runErr
}

// Specs returns the launch specs for cfg: every built-in and external
// plugin, with the kind required of those the configuration uses.
func Specs(cfg *config.Config, b supervisor.Builtins) []supervisor.Spec {
	specs := supervisor.SpecsFor(cfg, b)
	if agentOnly(cfg) {
		// An agent signs nothing and decides nothing itself.
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
}

func (b bound) all() []net.Listener {
	out := append([]net.Listener(nil), b.plugin...)
	if b.proxy != nil {
		out = append(out, b.proxy)
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
