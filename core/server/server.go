// Package server runs a keyway process: it binds the configured
// listeners, launches the plugins, serves the admin socket, and stops it
// all in order when its context ends.
package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/listener"
	"github.com/keyway-dev/keyway/core/proxy"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/sdk"
)

// Options configure Run.
type Options struct {
	Config   *config.Config
	Builtins supervisor.Builtins
	Logger   hclog.Logger
	// Policy overrides the supervisor's default restart policy.
	Policy supervisor.Policy
}

// Run serves until ctx is cancelled, then shuts down: listeners first, so
// no new session starts, then the admin socket, then the plugins.
func Run(ctx context.Context, opts Options) error {
	cfg, logger := opts.Config, opts.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	listeners, err := bind(cfg.Listeners)
	if err != nil {
		return err
	}
	defer closeAll(listeners)
	var proxyLn net.Listener
	if cfg.Proxy != nil {
		if proxyLn, err = net.Listen("tcp", cfg.Proxy.Listen); err != nil {
			return fmt.Errorf("the proxy cannot listen on %s: %w", cfg.Proxy.Listen, err)
		}
		defer func() { _ = proxyLn.Close() }()
	}

	backend := &hostBackend{}
	sup := supervisor.New(supervisor.Options{
		Logger: logger, ClusterName: cfg.ClusterName, DataDir: cfg.DataDir, Policy: opts.Policy, Host: backend,
	})
	if err := sup.Start(ctx, Specs(cfg, opts.Builtins)); err != nil {
		return err
	}
	defer sup.Stop()
	plug := plugins{sup: sup, caName: cfg.CAPlugin}
	if cfg.Auth != nil {
		plug.authzName = cfg.Auth.AuthzPlugin
	}
	ca := lazyCA{plug}
	trust := access.NewTrust(ca, 10*time.Second)
	if cfg.DB != nil {
		if backend.registry, err = agent.NewRegistry(cfg.DB.Databases, trust); err != nil {
			return err
		}
		backend.ca = ca
		backend.authorizer = &access.Authorizer{Trust: trust, Roles: access.StaticRoles(access.BuiltinRoles()), Engine: plug.Engine}
	}

	adm, err := admin.Listen(cfg.DataDir, pluginsView{sup: sup, caPlugin: cfg.CAPlugin})
	if err != nil {
		return err
	}
	adminDone := make(chan error, 1)
	go func() { adminDone <- adm.Serve() }()

	served := make(chan error, len(listeners)+1)
	for i, lc := range cfg.Listeners {
		in, err := sup.Instance(lc.Protocol)
		if err != nil {
			_ = adm.Shutdown(context.Background())
			return err
		}
		l := &listener.Listener{Name: lc.Name, Target: in, Logger: logger.Named("listener"), HandoffTimeout: 10 * time.Second}
		go func() { served <- l.Serve(listeners[i]) }()
		logger.Info("listening", "listener", lc.Name, "address", listeners[i].Addr().String(), "protocol", lc.Protocol)
	}
	if proxyLn != nil {
		cert, err := newHostCert(ctx, ca, cfg, logger.Named("proxy"))
		if err != nil {
			_ = adm.Shutdown(context.Background())
			return err
		}
		certCtx, stopCert := context.WithCancel(context.Background())
		defer stopCert()
		go cert.keepFresh(certCtx)
		px := &proxy.Proxy{
			Logger: logger.Named("proxy"), Certificate: cert.cert.Load,
			Routes: routes{registry: backend.registry, sup: sup}, Verifier: routeVerifier{trust},
			HandshakeTimeout: 10 * time.Second,
		}
		go func() { served <- px.Serve(proxyLn) }()
		logger.Info("proxy listening", "address", proxyLn.Addr().String(), "public_addr", cfg.Proxy.PublicAddr)
	}
	logger.Info("keyway started", "cluster", cfg.ClusterName, "plugins", len(sup.Status()), "admin_socket", admin.SocketPath(cfg.DataDir))

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-adminDone:
		runErr = fmt.Errorf("admin socket: %w", err)
	case err := <-served:
		runErr = err
	}
	logger.Info("shutting down")
	closeAll(listeners)
	if proxyLn != nil {
		_ = proxyLn.Close()
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = adm.Shutdown(shutCtx)
	return runErr
}

// Specs returns the launch specs for cfg: every built-in and external
// plugin, with the kind required of those that listeners use.
func Specs(cfg *config.Config, b supervisor.Builtins) []supervisor.Spec {
	specs := supervisor.SpecsFor(cfg, b)
	for i := range specs {
		if specs[i].Name == cfg.CAPlugin {
			specs[i].Kind = sdk.KindCA
		}
		if cfg.Auth != nil && specs[i].Name == cfg.Auth.AuthzPlugin {
			specs[i].Kind = sdk.KindAuthz
		}
		for _, l := range cfg.Listeners {
			if l.Protocol == specs[i].Name {
				specs[i].Kind = sdk.KindProtocol
			}
		}
	}
	return specs
}

func bind(ls []config.Listener) ([]net.Listener, error) {
	var out []net.Listener
	for _, l := range ls {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("listener %q cannot listen on %s: %w", l.Name, l.Address, err)
		}
		out = append(out, ln)
	}
	return out, nil
}

func closeAll(ls []net.Listener) {
	for _, ln := range ls {
		_ = ln.Close()
	}
}
