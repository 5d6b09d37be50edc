package server

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/discovery"
	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/embedded"
	etcdstate "github.com/keyway-dev/keyway/core/state/etcd"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
)

// authRole is the auth service, the config's auth block: the cluster's
// records in the state backend, its access decisions and certificates,
// and the cluster API that the proxy role serves.
type authRole struct {
	state state.Backend
	svc   *auth.Service
	api   *apiserver.Server
	// tunnels are the agents connected to this process's proxy, whose
	// databases the API lists.
	tunnels *tunnel.Registry
	// proxies follows the cluster's proxies in the state backend; nil
	// when neither this process's proxy nor the auth service's own port
	// serves the API.
	proxies *discovery.Directory
	// enforcer ends live sessions that lose their access.
	enforcer *apiserver.Enforcer
	// rotate is the CA that automatic rotations move through.
	rotate authority.CA
	logger hclog.Logger
}

// authParts are what the auth role is built from.
type authParts struct {
	// ca reaches the CA plugin on each call, and trust is the cluster's
	// trust read from it.
	ca    authority.CA
	trust *access.Trust
	// engine reaches the authorisation plugin on each call.
	engine func(context.Context) (access.Engine, error)
	// local are the databases this process serves; nil without the db
	// block.
	local *agent.Registry
}

// newAuthRole opens the state backend and builds the auth service and
// the cluster API on it.
func newAuthRole(ctx context.Context, n *node, p authParts) (*authRole, error) {
	st, err := openState(ctx, n.cfg)
	if err != nil {
		return nil, err
	}
	a := &authRole{
		state: st, svc: &auth.Service{State: st, Audit: n.emitAudit}, tunnels: tunnel.NewRegistry(),
		rotate: n.rotatingCA(p.ca), logger: n.logger.Named("rotation"),
	}
	n.rotations.onChange(p.trust.Invalidate)
	// Agents reach the auth service through proxies without the auth
	// role only when it has a port of its own.
	var remote *apiserver.RemoteTunnels
	var remoteAgents *tunnel.Registry
	if n.cfg.Auth.Listen != "" {
		remote = apiserver.NewRemoteTunnels()
		remoteAgents = remote.Registry
	}
	a.api = &apiserver.Server{
		Cluster: n.cluster, Version: n.opts.Version, CA: p.ca, Trust: p.trust, Auth: a.svc,
		Authorizer: &access.Authorizer{Trust: p.trust, Roles: a.svc, Engine: p.engine, Observe: n.observeDecision},
		Databases: clusterDatabases{
			local: p.local, tunnels: a.tunnels, remote: remoteAgents, resources: a.svc, localName: localName(n.cfg), logger: n.logger,
		},
		Remote:  remote,
		Audit:   n.emitAudit,
		HostTTL: n.cfg.Auth.AgentCertLifetime(),
		Limits:  n.apiLimits(),
		Grants:  apiserver.NewGrants(),
		Clients: n.protocolClient,
	}
	if n.audit != nil {
		a.api.AuditLog = n.audit
	}
	a.enforcer = newEnforcer(n, a.api, a.tunnels)
	if n.cfg.Proxy != nil || n.cfg.Auth.Listen != "" {
		a.proxies = discovery.NewDirectory(st, n.logger.Named("discovery"))
		a.api.Proxies = a.proxies
	}
	return a, nil
}

// Run ends sessions that lose their access, moves automatic rotations
// along their schedule and follows the cluster's proxies until ctx ends.
func (a *authRole) Run(ctx context.Context) error {
	var background sync.WaitGroup
	defer background.Wait()
	background.Go(func() { walkRotations(ctx, a.rotate, a.logger) })
	background.Go(func() { a.enforcer.Run(ctx) })
	if a.proxies != nil {
		a.proxies.Run(ctx)
		return nil
	}
	<-ctx.Done()
	return nil
}

// close closes the state backend; Run calls it after every role and
// plugin that uses it stopped.
func (a *authRole) close() { _ = a.state.Close() }

// hostPin returns the pin of the active host authority.
func (a *authRole) hostPin(ctx context.Context) (string, error) {
	st, err := a.api.CA.Authorities(ctx)
	if err != nil {
		return "", err
	}
	for _, au := range st {
		if au.Authority == sdk.AuthorityHost && len(au.Certificates) > 0 {
			return pinOf(au.Certificates[0])
		}
	}
	return "", fmt.Errorf("no host authority")
}

// openState opens the configured state backend: the embedded store under
// the data directory, or etcd.
func openState(ctx context.Context, cfg *config.Config) (state.Backend, error) {
	if cfg.State == nil || cfg.State.Backend == "" || cfg.State.Backend == "embedded" {
		st, err := embedded.Open(filepath.Join(cfg.DataDir, "state.db"))
		if err != nil {
			return nil, fmt.Errorf("opening the embedded state backend: %w", err)
		}
		return st, nil
	}
	s := cfg.State
	st, err := etcdstate.Open(ctx, etcdstate.Config{
		Endpoints: s.Endpoints, Prefix: s.Prefix, CAFile: s.CAFile, CertFile: s.CertFile, KeyFile: s.KeyFile,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the etcd state backend: %w", err)
	}
	return st, nil
}

// noHostPin answers for a process without the auth role.
func noHostPin(context.Context) (string, error) {
	return "", fmt.Errorf("this keyway process has no auth role")
}
