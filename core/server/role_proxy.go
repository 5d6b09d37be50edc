package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/agent"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/proxy"
	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// proxyRole is the proxy, the config's proxy block: the public port that
// clients, agents' tunnels and the cluster API share, and the ports of
// protocols whose server speaks first.
type proxyRole struct {
	logger hclog.Logger
	proxy  *proxy.Proxy
	// listener is the shared port; own are the protocols' own ports, as
	// protocols names them.
	listener  net.Listener
	own       []net.Listener
	protocols []config.ProxyProtocol
	public    string

	// background runs beside the ports until Run's context ends: the
	// renewal of the proxy's certificates and its record for agents and
	// clients.
	background []func(context.Context)
	// trust verifies agents' host certificates.
	trust *access.Trust
	// agentAPI registers, on the gRPC server of an agent's tunnel, what
	// answers the agent's calls; done ends what it started.
	agentAPI func(gs *grpc.Server, a *tunnel.Agent, c *tls.Conn) (done func(), err error)

	tunnels *tunnel.Registry
	apiLn   *tunnel.ConnListener
	apiGRPC *grpc.Server
}

// proxyParts are what the proxy role is built from: the auth role's API
// and agents, this process's databases, and the sockets bound at start.
type proxyParts struct {
	api     *apiserver.Server
	tunnels *tunnel.Registry
	state   state.Backend
	// resources tells a db resource that no agent serves from an unknown
	// database.
	resources dbResources
	// local are the databases this process serves; nil without the db
	// block.
	local *agent.Registry
	// admin is the admin API that editors reach through the cluster API.
	admin admin.Source
	// gate is where plugins that complete clients' TLS reach the proxy;
	// the constructor opens it. Nil when no plugin does.
	gate     *clientGate
	listener net.Listener
	own      []net.Listener
}

// newProxyRole provisions the proxy: its host certificate, its record
// for the cluster's other proxies, the cluster API and, when plugins
// complete clients' TLS, their serving certificate. It runs after the
// plugins started, since it needs the CA plugin and the protocols the
// protocol plugins declare.
func newProxyRole(ctx context.Context, n *node, p proxyParts) (*proxyRole, error) {
	cfg := n.cfg.Proxy
	logger := n.logger.Named("proxy")
	unreachable, err := checkOwnPorts(cfg.Protocols, n.sup.Protocols())
	if err != nil {
		return nil, err
	}
	for _, name := range unreachable {
		n.logger.Warn("clients of this protocol cannot reach this proxy: its plugin needs a port of its own", "protocol", name, "fix", fmt.Sprintf("add proxy { protocol %q { listen = \"HOST:PORT\" } }", name))
	}
	cert, err := newHostCert(ctx, p.api.CA, n.cfg, logger)
	if err != nil {
		return nil, err
	}
	pub, err := newPublisher(p.state, cert, cfg.PublicAddr, n.opts.Version, n.logger.Named("discovery"))
	if err != nil {
		return nil, err
	}
	n.rotations.onChange(cert.kickRenew)
	r := &proxyRole{
		logger: logger, listener: p.listener, own: p.own, protocols: cfg.Protocols, public: cfg.PublicAddr,
		background: []func(context.Context){cert.keepFresh}, trust: p.api.Trust, tunnels: p.tunnels,
		apiLn: tunnel.NewConnListener(&net.TCPAddr{}),
	}
	if pub != nil {
		r.background = append(r.background, pub.Run)
	}
	r.agentAPI = func(gs *grpc.Server, a *tunnel.Agent, _ *tls.Conn) (func(), error) {
		apiv1.RegisterAgentServer(gs, apiserver.AgentService{S: p.api, Agent: a, Refusals: apiserver.NewThrottle(time.Minute)})
		return func() {}, nil
	}
	r.apiGRPC = grpc.NewServer(append(apiServerOptions(cfg.Handshake(), cfg.APIIdle()), p.api.UnaryLimits(), p.api.StreamLimits())...)
	apiv1.RegisterAuthServer(r.apiGRPC, apiserver.AuthService{S: p.api})
	apiv1.RegisterUserServer(r.apiGRPC, apiserver.UserService{S: p.api})
	apiserver.RegisterAdmin(r.apiGRPC, p.api, p.admin)

	r.proxy = r.newProxy(n, cert.cert.Load, routes{local: p.local, tunnels: p.tunnels, sup: n.sup, resources: p.resources, grants: localGrants{p.api.Grants}})
	if p.gate != nil {
		serving, err := newServingCert(ctx, p.api.CA, cert, logger)
		if err != nil {
			return nil, err
		}
		r.background = append(r.background, serving.keepFresh)
		n.rotations.onChange(serving.kickRenew)
		ct := &clientTLS{proxy: r.proxy, sup: n.sup, serving: serving, sharedPort: pluginsCompleteSharedTLS(n.cfg, p.local)}
		r.proxy.HandClientTLS = ct.hand
		p.gate.open.Store(ct)
	}
	return r, nil
}

// newProxy is the proxy of the role's ports, presenting certificate and
// routing sessions with routes.
func (r *proxyRole) newProxy(n *node, certificate func() *tls.Certificate, routes routes) *proxy.Proxy {
	cfg := n.cfg.Proxy
	return &proxy.Proxy{
		Logger: r.logger, Certificate: certificate,
		Routes:           routes,
		Protocols:        sharedPortProtocols(n.sup.Protocols()),
		Verifier:         routeVerifier{r.trust},
		HandshakeTimeout: cfg.Handshake(),
		Limits:           proxyLimits(cfg),
		Metrics:          n.metrics,
		API:              func(c *tls.Conn) { r.apiLn.Deliver(c) },
		Tunnel:           r.serveTunnel,
		Data:             r.parkData,
	}
}

// pluginsCompleteSharedTLS reports whether protocol plugins complete the
// TLS of clients on the shared port. Plugins of protocols with a port of
// their own complete TLS always, since they speak first. On the shared
// port, sessions for agents elsewhere cross the core anyway, on their way
// into the tunnel; only a process that serves databases itself gains from
// the plugin completing TLS.
func pluginsCompleteSharedTLS(cfg *config.Config, local *agent.Registry) bool {
	return cfg.Proxy.PluginTLS() && local != nil
}

// pluginsCompleteTLS reports whether any protocol plugin completes
// clients' TLS for the proxy.
func pluginsCompleteTLS(cfg *config.Config, local *agent.Registry) bool {
	return cfg.Proxy != nil && (pluginsCompleteSharedTLS(cfg, local) || len(cfg.Proxy.Protocols) > 0)
}

// Run serves the proxy's ports and the cluster API, keeps its
// certificates fresh and its record published, until ctx ends; then it
// closes its ports, so that no new session starts, and removes its
// record. The API's server, which the plugins' last events may still
// reach through agents' tunnels, stops in close.
func (r *proxyRole) Run(ctx context.Context) error {
	var background sync.WaitGroup
	defer background.Wait()
	for _, run := range r.background {
		background.Go(func() { run(ctx) })
	}
	go func() { _ = r.apiGRPC.Serve(r.apiLn) }()

	served := make(chan error, 1+len(r.own))
	go func() { served <- r.proxy.Serve(r.listener) }()
	r.logger.Info("proxy listening", "address", r.listener.Addr().String(), "public_addr", r.public, "protocols", r.proxy.ProtocolNames())
	for i, pp := range r.protocols {
		ln := r.own[i]
		go func() { served <- r.proxy.ServeOwnPort(ln, pp.Name) }()
		r.logger.Info("proxy listening", "protocol", pp.Name, "address", ln.Addr().String())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("the proxy stopped serving: %w", orClosed(err))
	}
	closeAll(append([]net.Listener{r.listener}, r.own...))
	return err
}

// orClosed names an accept loop that ended without an error.
func orClosed(err error) error {
	if err == nil {
		return errors.New("its listener closed")
	}
	return err
}

// close stops the cluster API's server; Run calls it after the plugins
// stopped.
func (r *proxyRole) close() {
	_ = r.apiLn.Close()
	r.apiGRPC.Stop()
}

// acceptProblem is why a port cannot accept connections.
const acceptProblem = "cannot accept connections: keyway is out of file descriptors or memory (see keyway status for the open file limit)"

// ready fails while the proxy cannot accept connections for want of
// descriptors or memory: sessions already open go on, but new clients
// wait.
func (r *proxyRole) ready() error {
	if r.proxy.Saturated() {
		return fmt.Errorf("the proxy %s", acceptProblem)
	}
	return nil
}

// report sets whether the proxy cannot accept for want of descriptors,
// and its connections in their handshake.
func (r *proxyRole) report(m *metrics.Metrics) {
	setSaturated(m, "proxy", r.proxy.Saturated())
	m.SetGauge([]string{"proxy", "connections", "unauthenticated"}, float32(r.proxy.Unauthenticated()))
	data, stream := r.tunnels.Sessions()
	m.SetGaugeWithLabels([]string{"proxy", "agent_sessions"}, float32(data), []metrics.Label{{Name: "via", Value: "data"}})
	m.SetGaugeWithLabels([]string{"proxy", "agent_sessions"}, float32(stream), []metrics.Label{{Name: "via", Value: "tunnel"}})
}

// serveTunnel checks an agent's host certificate and serves its tunnel
// until it breaks.
func (r *proxyRole) serveTunnel(c *tls.Conn) {
	defer func() { _ = c.Close() }()
	name, err := r.verifyHost(context.Background(), c.ConnectionState().PeerCertificates)
	if err != nil {
		r.logger.Warn("refusing a tunnel", "client", c.RemoteAddr().String(), "error", err)
		return
	}
	sess, err := tunnel.Server(c)
	if err != nil {
		return
	}
	a := r.tunnels.Add(name, sess)
	defer r.tunnels.Remove(a)
	gs := grpc.NewServer(append(tunnelServerOptions(), tunnel.GRPCServerOptions()...)...)
	done, err := r.agentAPI(gs, a, c)
	if err != nil {
		r.logger.Warn("refusing a tunnel", "agent", name, "error", err)
		_ = sess.Close()
		return
	}
	defer done()
	r.logger.Info("agent connected", "agent", name, "address", c.RemoteAddr().String())
	_ = gs.Serve(sess)
	gs.Stop()
	r.logger.Info("agent disconnected", "agent", name)
}

// parkData checks an agent's host certificate and keeps its data
// connection for a session to that agent; it closes the connection when
// the agent has no tunnel here or enough parked.
func (r *proxyRole) parkData(c *tls.Conn) {
	name, err := r.verifyHost(context.Background(), c.ConnectionState().PeerCertificates)
	if err != nil {
		r.logger.Warn("refusing a data connection", "client", c.RemoteAddr().String(), "error", err)
		_ = c.Close()
		return
	}
	if !r.tunnels.Park(name, c) {
		r.logger.Debug("closing a data connection the agent does not need", "agent", name)
		_ = c.Close()
	}
}

// verifyHost checks a chain against the host authority and returns the
// host's name.
func (r *proxyRole) verifyHost(ctx context.Context, certs []*x509.Certificate) (string, error) {
	leaf, err := r.trust.VerifyHost(ctx, certs)
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

// proxyLimits are the proxy's caps on unauthenticated connections.
func proxyLimits(c *config.Proxy) proxy.Limits {
	total, perAddress := c.Unauthenticated()
	return proxy.Limits{Total: total, PerAddress: perAddress}
}

// setSaturated sets whether the port called name cannot accept for want
// of descriptors.
func setSaturated(m *metrics.Metrics, name string, on bool) {
	v := float32(0)
	if on {
		v = 1
	}
	m.SetGaugeWithLabels([]string{"accept", "saturated"}, v, []metrics.Label{{Name: "listener", Value: name}})
}
