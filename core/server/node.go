package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/agent"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/listener"
	"github.com/keyway-dev/keyway/core/proxy"
	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/embedded"
	etcdstate "github.com/keyway-dev/keyway/core/state/etcd"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// node is one keyway process's roles, wired together.
type node struct {
	cfg     *config.Config
	opts    Options
	logger  hclog.Logger
	sup     *supervisor.Supervisor
	backend *hostBackend

	plug    plugins
	state   state.Backend
	authSvc *auth.Service
	api     *apiserver.Server
	tunnels *tunnel.Registry
	local   *agent.Registry
	remote  *agent.Remote
	// tunnelsOut are an agent's tunnels to the cluster's proxies.
	tunnelsOut *agent.Tunnels
	metrics    *metrics.Metrics
	audit      AuditLog
	// auditHealthy is the audit log's health check, for /readyz, which
	// may run before the log is open.
	auditHealthy atomic.Pointer[func() error]
	// pluginMetrics exports protocol plugins' statistics.
	pluginMetrics *pluginMetrics
	// report starts the metrics reporter once everything it reads exists.
	report func()
	// proxyRole is the proxy, once it is built: /readyz asks it whether
	// it can accept connections.
	proxyRole atomic.Pointer[proxy.Proxy]
	// listeners are the plugin listeners, for the same question.
	listeners atomic.Pointer[[]*listener.Listener]

	stop []func()
}

func (n *node) close() {
	for i := len(n.stop) - 1; i >= 0; i-- {
		n.stop[i]()
	}
}

func (n *node) roles() string {
	var r []string
	if n.cfg.Auth != nil {
		r = append(r, "auth")
	}
	if n.cfg.Proxy != nil {
		r = append(r, "proxy")
	}
	if n.cfg.DB != nil {
		r = append(r, "db")
	}
	return strings.Join(r, ",")
}

// setup prepares the auth role and the agent's registry.
func (n *node) setup(ctx context.Context) (err error) {
	cfg := n.cfg
	m, err := n.startDiag()
	if err != nil {
		return err
	}
	n.metrics = m
	defer func() {
		if err == nil {
			err = n.openAudit()
			if n.api != nil && n.audit != nil {
				n.api.AuditLog = n.audit
			}
			if err == nil && n.report != nil {
				n.report()
			}
		}
	}()
	n.plug = plugins{sup: n.sup, caName: cfg.CAPlugin}
	if cfg.Auth != nil {
		n.plug.authzName = cfg.Auth.AuthzPlugin
		st, err := openState(ctx, cfg)
		if err != nil {
			return err
		}
		n.state = st
		n.stop = append(n.stop, func() { _ = st.Close() })
		n.authSvc = &auth.Service{State: st, Audit: n.emitAudit}
		ca := lazyCA{n.plug}
		trust := access.NewTrust(ca, 10*time.Second)
		n.tunnels = tunnel.NewRegistry()
		n.api = &apiserver.Server{
			Cluster: cfg.ClusterName, Version: n.opts.Version, CA: ca, Trust: trust, Auth: n.authSvc,
			Authorizer: &access.Authorizer{Trust: trust, Roles: n.authSvc, Engine: n.plug.Engine, Observe: n.observeDecision},
			Databases:  clusterDatabases{n: n},
			Audit:      n.emitAudit,
			HostTTL:    cfg.Auth.AgentCertLifetime(),
			Limits:     n.apiLimits(),
			Grants:     apiserver.NewGrants(),
			Clients:    n.protocolClient,
		}
		n.startEnforcer()
	}
	if cfg.DB == nil {
		return nil
	}
	var pems agent.AuthorityPEM
	if n.api != nil {
		pems = n.api.Trust
		n.backend.decide = localDecider{api: apiserver.AgentService{S: n.api}, ca: n.api.CA, record: n.emitAudit}
	} else {
		n.remote = &agent.Remote{}
		pems = n.remote
		n.backend.decide = n.remote
	}
	reg, err := agent.NewRegistry(cfg.DB.Databases, pems)
	if err != nil {
		return err
	}
	n.local, n.backend.registry = reg, reg
	n.serveDatabases()
	return nil
}

// observeDecision reports an authorisation decision's latency and result.
func (n *node) observeDecision(action string, allow bool, took time.Duration) {
	result := "deny"
	if allow {
		result = "allow"
	}
	labels := []metrics.Label{{Name: "action", Value: action}, {Name: "result", Value: result}}
	n.metrics.IncrCounterWithLabels([]string{"authz", "decisions"}, 1, labels)
	n.metrics.AddSampleWithLabels([]string{"authz", "latency"}, float32(took.Seconds()*1000), labels)
}

// adminSource is what the admin socket serves.
func (n *node) adminSource() admin.Source {
	v := adminView{pluginsView: pluginsView{sup: n.sup, caPlugin: n.cfg.CAPlugin}, auth: n.authSvc, hostPin: n.hostPin, api: n.api, auditSearch: auditSearcher(n.cfg)}
	if n.audit != nil {
		v.recordCA = n.emitAuditDurable
	}
	return v
}

// hostPin returns the pin of the active host authority.
func (n *node) hostPin(ctx context.Context) (string, error) {
	if n.api == nil {
		return "", fmt.Errorf("this keyway process has no auth role")
	}
	st, err := n.api.CA.Authorities(ctx)
	if err != nil {
		return "", err
	}
	for _, a := range st {
		if a.Authority == sdk.AuthorityHost && len(a.Certificates) > 0 {
			return pinOf(a.Certificates[0])
		}
	}
	return "", fmt.Errorf("no host authority")
}

// proxy builds the proxy role.
func (n *node) proxy(ctx context.Context) (*proxy.Proxy, error) {
	if n.api == nil {
		return nil, fmt.Errorf("the proxy role needs the auth role in the same process (add an auth block)")
	}
	cert, err := newHostCert(ctx, n.api.CA, n.cfg, n.logger.Named("proxy"))
	if err != nil {
		return nil, err
	}
	certCtx, stopCert := context.WithCancel(context.Background())
	n.stop = append(n.stop, stopCert)
	go cert.keepFresh(certCtx)
	if err := n.startDiscovery(cert); err != nil {
		return nil, err
	}

	apiLn := tunnel.NewConnListener(&net.TCPAddr{})
	gs := grpc.NewServer(append(apiServerOptions(n.cfg.Proxy.Handshake(), n.cfg.Proxy.APIIdle()), n.api.UnaryLimits(), n.api.StreamLimits())...)
	apiv1.RegisterAuthServer(gs, apiserver.AuthService{S: n.api})
	apiv1.RegisterUserServer(gs, apiserver.UserService{S: n.api})
	apiv1.RegisterAdminServer(gs, apiserver.AdminService{S: n.api, Handler: admin.NewHandler(n.adminSource())})
	go func() { _ = gs.Serve(apiLn) }()
	n.stop = append(n.stop, func() { _ = apiLn.Close(); gs.Stop() })

	p := &proxy.Proxy{
		Logger: n.logger.Named("proxy"), Certificate: cert.cert.Load,
		Routes:           routes{local: n.local, tunnels: n.tunnels, sup: n.sup, resources: n.authSvc, grants: n.api.Grants},
		Protocols:        sharedPortProtocols(n.sup.Protocols()),
		Verifier:         routeVerifier{n.api.Trust},
		HandshakeTimeout: n.cfg.Proxy.Handshake(),
		Limits:           proxyLimits(n.cfg.Proxy),
		Metrics:          n.metrics,
		API:              func(c *tls.Conn) { apiLn.Deliver(c) },
		Tunnel:           n.serveTunnel,
	}
	n.proxyRole.Store(p)
	// Plugins of protocols with a port of their own complete TLS always,
	// since they speak first. On the shared port, sessions for agents
	// elsewhere cross the core anyway, on their way into the tunnel; only
	// a process that serves databases itself gains from the plugin
	// completing TLS.
	sharedPort := n.cfg.Proxy.PluginTLS() && n.local != nil
	if sharedPort || len(n.cfg.Proxy.Protocols) > 0 {
		serving, err := newServingCert(ctx, n.api.CA, cert, n.logger.Named("proxy"))
		if err != nil {
			return nil, err
		}
		go serving.keepFresh(certCtx)
		ct := &clientTLS{proxy: p, sup: n.sup, serving: serving, sharedPort: sharedPort}
		n.backend.clientTLS = ct
		p.HandClientTLS = ct.hand
	}
	return p, nil
}

// serveTunnel checks an agent's host certificate and serves its tunnel
// until it breaks.
func (n *node) serveTunnel(c *tls.Conn) {
	defer func() { _ = c.Close() }()
	name, err := n.verifyHost(context.Background(), c.ConnectionState().PeerCertificates)
	if err != nil {
		n.logger.Warn("refusing a tunnel", "client", c.RemoteAddr().String(), "error", err)
		return
	}
	sess, err := tunnel.Server(c)
	if err != nil {
		return
	}
	a := n.tunnels.Add(name, sess)
	defer n.tunnels.Remove(a)
	n.logger.Info("agent connected", "agent", name, "address", c.RemoteAddr().String())
	gs := grpc.NewServer(tunnelServerOptions()...)
	apiv1.RegisterAgentServer(gs, apiserver.AgentService{S: n.api, Agent: a, Refusals: apiserver.NewThrottle(time.Minute)})
	_ = gs.Serve(sess)
	gs.Stop()
	n.logger.Info("agent disconnected", "agent", name)
}

// verifyHost checks a chain against the host authority and returns the
// host's name.
func (n *node) verifyHost(ctx context.Context, certs []*x509.Certificate) (string, error) {
	leaf, err := n.api.Trust.VerifyHost(ctx, certs)
	if err != nil {
		return "", err
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil {
		return "", err
	}
	if id.Kind != identity.KindHost {
		return "", fmt.Errorf("%s is not a host identity", id.ID)
	}
	return id.Name, nil
}

// startAgent starts the agent's tunnel when auth runs elsewhere.
func (n *node) startAgent(ctx context.Context) error {
	if n.cfg.DB == nil || n.remote == nil {
		return nil
	}
	db := n.cfg.DB
	id, found, err := agent.LoadIdentity(n.cfg.DataDir)
	if err != nil {
		return err
	}
	if !found {
		name := db.AgentName
		if name == "" {
			host, _ := os.Hostname()
			name = sanitizeHostName(host)
		}
		if id, err = agent.Join(ctx, db.ProxyAddr, db.TokenFile, n.cfg.DataDir, name); err != nil {
			return err
		}
		n.logger.Info("joined the cluster", "cluster", id.Cluster, "proxy", db.ProxyAddr)
	}
	tctx, cancel := context.WithCancel(context.Background())
	current := agent.NewCurrentIdentity(id)
	n.tunnelsOut = &agent.Tunnels{
		Seed: db.ProxyAddr, Identity: current, DataDir: n.cfg.DataDir, Registry: n.local, Remote: n.remote,
		Logger: n.logger.Named("agent"), Deliver: n.deliver,
	}
	renewer := &agent.Renewer{DataDir: n.cfg.DataDir, Identity: current, Remote: n.remote, Logger: n.logger.Named("agent")}
	done, renewed := make(chan struct{}), make(chan struct{})
	go func() { n.tunnelsOut.Run(tctx); close(done) }()
	go func() { renewer.Run(tctx); close(renewed) }()
	n.stop = append(n.stop, func() { cancel(); <-done; <-renewed })
	return nil
}

// deliver hands a session from the tunnel to the local plugin of its
// database's protocol.
func (n *node) deliver(ctx context.Context, stream net.Conn, meta *pluginv1.Session) {
	if meta.GetEndSessions() != nil {
		n.endForProxy(ctx, stream, meta)
		return
	}
	protocol := meta.GetDatabase().GetProtocol()
	in, err := n.sup.Protocol(protocol)
	if err != nil {
		n.logger.Error("no protocol plugin for a session", "protocol", protocol, "session", meta.GetId(), "error", err)
		return
	}
	local, err := handToPlugin(ctx, in, meta)
	if err != nil {
		n.logger.Error("cannot hand a session to its plugin", "error", err)
		return
	}
	defer func() { _ = local.Close() }()
	sdk.Relay(stream, local)
}

// openState opens the configured state backend: the embedded store under
// the data directory, or etcd.
func openState(ctx context.Context, cfg *config.Config) (state.Backend, error) {
	if cfg.State == nil || cfg.State.Backend == "" || cfg.State.Backend == "embedded" {
		return embedded.Open(filepath.Join(cfg.DataDir, "state.db"))
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

// proxyLimits are the proxy's caps on unauthenticated connections.
func proxyLimits(c *config.Proxy) proxy.Limits {
	total, perAddress := c.Unauthenticated()
	return proxy.Limits{Total: total, PerAddress: perAddress}
}
