package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/config"
)

// process is one keyway process, provisioned: its shared parts and its
// roles, each complete before anything runs.
type process struct {
	n     *node
	sock  *admin.Socket
	admin *admin.Server
	bound bound
	auth  *authRole
	agent *agentRole
	proxy *proxyRole
	// authPort is the auth service's own port; nil without auth
	// { listen }.
	authPort *authPort
	// link is a proxy's link to the auth service in another process;
	// nil unless the proxy runs without the auth role.
	link      *authLink
	listeners *pluginListeners
	diag      *diagServer
	// started is set once the plugins started.
	started bool
}

// provision makes every part of the process in order (see Run). On
// error, the process it returns holds what was made, for stop.
func provision(ctx context.Context, opts Options) (*process, error) {
	cfg, logger := opts.Config, opts.Logger
	p := &process{}
	if cfg.Proxy != nil && cfg.Auth == nil && !cfg.Proxy.Remote() {
		return p, errors.New(config.ProxyWithoutAuth)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return p, fmt.Errorf("creating data directory: %w", err)
	}
	// The admin socket is bound before any public port, so that a
	// command run as soon as a port answers finds it; such a command
	// waits in the socket's backlog until the socket serves.
	sock, err := admin.Bind(cfg.DataDir)
	if err != nil {
		return p, err
	}
	p.sock = sock
	if p.bound, err = bind(cfg); err != nil {
		return p, err
	}
	warnAuditOff(cfg, logger)

	// An agent whose auth role runs elsewhere joins first: it learns the
	// cluster's name, which its plugins and its log are given.
	cluster := cfg.ClusterName
	var id agent.Identity
	var remote *agent.Remote
	if agentOnly(cfg) {
		if id, err = joinCluster(ctx, cfg, logger); err != nil {
			return p, err
		}
		if id.Cluster != "" {
			cluster = id.Cluster
		}
		remote = &agent.Remote{}
	} else if cfg.Proxy.Remote() {
		// So does a proxy without the auth role.
		if p.link, err = joinAuth(ctx, cfg, logger); err != nil {
			return p, fmt.Errorf("joining the cluster: %w", err)
		}
		if c := p.link.id.Get().Cluster; c != "" {
			cluster = c
		}
	} else if cfg.DB != nil && cfg.Auth == nil {
		return p, fmt.Errorf("the db block needs proxy_addr to join a cluster, or an auth block in the same process")
	}

	backend := &hostBackend{}
	if p.n, err = newNode(cfg, opts, cluster, backend); err != nil {
		return p, err
	}
	n := p.n
	plug := plugins{sup: n.sup, caName: cfg.CAPlugin}
	ca := lazyCA{plug}
	var trust *access.Trust
	if cfg.Auth != nil {
		plug.authzName = cfg.Auth.AuthzPlugin
		trust = access.NewTrust(ca, 10*time.Second)
	}

	var local *agent.Registry
	if cfg.DB != nil {
		var pems agent.AuthorityPEM = remote
		if trust != nil {
			pems = trust
		}
		if local, err = newLocalDatabases(cfg, pems); err != nil {
			return p, err
		}
	}
	if cfg.Auth != nil {
		if p.auth, err = newAuthRole(ctx, n, authParts{ca: ca, trust: trust, engine: plug.Engine, local: local}); err != nil {
			return p, fmt.Errorf("the auth role: %w", err)
		}
	}
	parts := hostParts{
		registry: local, auditAllow: cfg.Audit.OnFailure == config.AuditOnFailureAllow,
		logger: logger, auditFailed: &n.auditFailed, audit: n.audit,
	}
	if cfg.DB != nil {
		ap := agentParts{local: local, remote: remote, id: id}
		if remote != nil {
			ap.feed, parts.decide, parts.audit = remote, remote, remote
		} else {
			ap.feed = authFeed{p.auth.svc}
			parts.decide = localDecider{api: apiserver.AgentService{S: p.auth.api}, ca: p.auth.api.CA, record: n.emitAudit}
		}
		p.agent = newAgentRole(n, ap)
		parts.data = p.agent.data
	}
	if pluginsCompleteTLS(cfg, local) {
		parts.clients = &clientGate{}
	}
	backend.complete(parts)
	p.admin = p.sock.Server(adminSource(n, p.auth))

	if err := n.sup.Start(ctx, Specs(cfg, opts.Builtins)); err != nil {
		return p, err
	}
	p.started = true

	if p.bound.auth != nil {
		if p.authPort, err = newAuthPort(ctx, n, p.auth, adminSource(n, p.auth), p.bound.auth); err != nil {
			return p, fmt.Errorf("the auth service's port: %w", err)
		}
	}
	if p.link != nil {
		if p.proxy, err = newRemoteProxyRole(ctx, n, p.link, p.bound.proxy); err != nil {
			return p, fmt.Errorf("the proxy role: %w", err)
		}
	} else if cfg.Proxy != nil {
		p.proxy, err = newProxyRole(ctx, n, proxyParts{
			api: p.auth.api, tunnels: p.auth.tunnels, state: p.auth.state, resources: p.auth.svc,
			local: local, admin: adminSource(n, p.auth), gate: parts.clients,
			listener: p.bound.proxy, own: p.bound.own,
		})
		if err != nil {
			return p, fmt.Errorf("the proxy role: %w", err)
		}
	}
	if p.listeners, err = newPluginListeners(n, p.bound.plugin); err != nil {
		return p, err
	}
	var diagParts []part
	diagParts = append(diagParts, p.listeners)
	if p.proxy != nil {
		diagParts = append(diagParts, p.proxy)
	}
	if p.agent != nil {
		diagParts = append(diagParts, p.agent)
	}
	if p.diag, err = newDiag(n, diagParts); err != nil {
		return p, err
	}
	return p, nil
}

// run serves every part under one errgroup until ctx ends or a part
// fails, and waits for all of them. ready, when set, is called once
// every part was started on sockets provision bound, so a client
// connecting from then on is served.
func (p *process) run(ctx context.Context, ready func()) error {
	n := p.n
	// Logged before the admin socket answers, so that whoever waits for
	// it finds the line.
	n.logger.Info("keyway started", "cluster", n.cluster, "roles", n.roles(), "plugins", len(n.sup.Status()), "admin_socket", admin.SocketPath(n.cfg.DataDir))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := serveUntil(gctx, p.admin.Serve, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.admin.Shutdown(sctx)
		})
		if err != nil {
			return fmt.Errorf("admin socket: %w", err)
		}
		return nil
	})
	g.Go(func() error { return p.diag.Run(gctx) })
	if p.auth != nil {
		g.Go(func() error { return p.auth.Run(gctx) })
	}
	if p.agent != nil {
		g.Go(func() error { return p.agent.Run(gctx) })
	}
	if p.proxy != nil {
		g.Go(func() error { return p.proxy.Run(gctx) })
	}
	if p.authPort != nil {
		g.Go(func() error { return p.authPort.Run(gctx) })
	}
	g.Go(func() error { return p.listeners.Run(gctx) })
	if ready != nil {
		ready()
	}
	g.Go(func() error {
		<-gctx.Done()
		n.logger.Info("shutting down")
		return nil
	})
	return g.Wait()
}

// stop releases what provision made, in the order that protects the
// audit log: the ports close, then the plugins stop, their last audit
// events recorded through the agent's tunnels or into the log, then the
// tunnels and the state backend close, and the audit log closes last.
func (p *process) stop() {
	closeAll(p.bound.all())
	if p.admin != nil {
		// A no-op when run shut it down already; it removes the socket.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.admin.Shutdown(sctx)
		cancel()
	} else if p.sock != nil {
		p.sock.Close()
	}
	if p.n == nil {
		return
	}
	if p.started {
		p.n.sup.Stop()
	}
	if p.proxy != nil {
		p.proxy.close()
	}
	if p.authPort != nil {
		p.authPort.close()
	}
	if p.link != nil {
		p.link.close()
	}
	if p.agent != nil {
		p.agent.close()
	}
	if p.auth != nil {
		p.auth.close()
	}
	p.n.close()
}

// adminSource is what the admin socket serves: the plugins, and, with
// the auth role, the cluster's records.
func adminSource(n *node, a *authRole) admin.Source {
	v := adminView{pluginsView: pluginsView{sup: n.sup, caPlugin: n.cfg.CAPlugin}, hostPin: noHostPin, auditSearch: auditSearcher(n.cfg), rotations: &n.rotations}
	if a != nil {
		v.auth, v.api, v.hostPin = a.svc, a.api, a.hostPin
	}
	if n.audit != nil {
		v.recordCA = n.emitAuditDurable
	}
	return v
}
