package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/tunnel"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Deliver hands a session that arrived through the tunnel to the local
// protocol plugin and relays it. It owns the stream from then on and
// calls done once, when the session ended, which closes the stream; it
// may return before, leaving the relay to a goroutine of its own, so
// that the goroutine that read the header, and the stack its hand-off
// grew, are not held while the session idles.
type Deliver func(ctx context.Context, stream net.Conn, meta *pluginv1.Session, done func())

// TunnelClient keeps the agent's tunnel to one proxy up: it dials out,
// registers the agent's databases, serves the sessions the proxy sends,
// follows the proxy's list of the cluster's proxies, and reconnects with
// backoff when the tunnel breaks.
type TunnelClient struct {
	ProxyAddr string
	// Identity is read at each dial: a renewal applies to the next one.
	Identity *CurrentIdentity
	Registry *Registry
	Remote   *Remote
	Deliver  Deliver
	Logger   hclog.Logger
	// HostID, if set, returns the SPIFFE ID the proxy's certificate must
	// carry, as the proxy published it; "" accepts any host identity of
	// the agent's cluster. It is read at each dial.
	HostID func() string
	// Proxies, if set, receives the cluster's proxies each time this
	// proxy reports them.
	Proxies func([]KnownProxy)
	// DataConns is how many data connections (tunnel.ALPNData) the agent
	// keeps dialled to the proxy for sessions to come; with none, every
	// session comes through the tunnel.
	DataConns int
	// Handoff, if set, takes data connections before TLS for the plugin
	// that serves the sessions; those it does not take are served here.
	Handoff DataHandoff
	// Keep, if set, is asked after the tunnel breaks whether to dial
	// again; Run returns when it says no.
	Keep func() bool
	// Connected, if set, is called each time the tunnel is up and the
	// databases are registered, and Disconnected when it breaks.
	Connected    func()
	Disconnected func()

	// refused holds the refusals the proxy answered at the last
	// registration, so that each is logged once, when it appears.
	refused refusedLog
}

// Run serves until ctx ends, or until Keep says the proxy is no longer
// wanted after its tunnel broke.
func (c *TunnelClient) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := c.once(ctx)
		if ctx.Err() != nil {
			return
		}
		if c.Keep != nil && !c.Keep() {
			c.Logger.Info("the proxy left the cluster; not reconnecting", "proxy", c.ProxyAddr, "error", err)
			return
		}
		if time.Since(start) > 30*time.Second {
			backoff = 100 * time.Millisecond
		}
		c.Logger.Warn("tunnel to the proxy is down; reconnecting", "proxy", c.ProxyAddr, "error", err, "delay", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// tlsConfig trusts only the cluster's host authorities the agent holds
// (pinned at join, updated by renewal), for the name dialled, and then
// checks the proxy's identity: a host of the agent's cluster, and the one
// the proxy published when known. An address learnt from the state
// backend is never trusted without this. It is built at each dial and
// presents the certificate held at the handshake.
func (c *TunnelClient) tlsConfig(alpn string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(c.ProxyAddr)
	if err != nil {
		return nil, fmt.Errorf("proxy address %q: %w", c.ProxyAddr, err)
	}
	pool, err := c.Identity.HostPool()
	if err != nil {
		return nil, err
	}
	var want string
	if c.HostID != nil {
		want = c.HostID()
	}
	cluster := c.Identity.Get().Cluster
	return &tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: host,
		GetClientCertificate: c.Identity.Certificate, NextProtos: []string{alpn},
		VerifyConnection: func(cs tls.ConnectionState) error {
			return authority.VerifyProxyIdentity(cs.PeerCertificates, cluster, want)
		},
	}, nil
}

// dial opens a mutual-TLS connection to the proxy for the ALPN protocol
// alpn.
func (c *TunnelClient) dial(ctx context.Context, alpn string) (net.Conn, error) {
	cfg, err := c.tlsConfig(alpn)
	if err != nil {
		return nil, err
	}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	raw, err := d.DialContext(ctx, "tcp", c.ProxyAddr)
	if err != nil {
		return nil, fmt.Errorf("dialing the proxy: %w", err)
	}
	return raw, nil
}

// once runs one tunnel until it breaks.
func (c *TunnelClient) once(ctx context.Context) error {
	raw, err := c.dial(ctx, tunnel.ALPNTunnel)
	if err != nil {
		return err
	}
	sess, err := tunnel.Client(raw)
	if err != nil {
		_ = raw.Close()
		return fmt.Errorf("starting the tunnel: %w", err)
	}
	// lctx lives as long as this tunnel.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-lctx.Done()
		_ = sess.Close()
	}()
	opts := append([]grpc.DialOption{
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return sess.Open() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // inside the tunnel's mutual TLS
	}, tunnel.GRPCDialOptions()...)
	conn, err := grpc.NewClient("passthrough:///proxy", opts...)
	if err != nil {
		return fmt.Errorf("the API client in the tunnel: %w", err)
	}
	defer func() { _ = conn.Close() }()
	client := apiv1.NewAgentClient(conn)
	if err := c.register(lctx, client); err != nil {
		return err
	}
	detach := c.Remote.Attach(c.ProxyAddr, client)
	defer detach()
	go c.reregister(lctx, sess.CloseChan(), client)
	if c.Proxies != nil {
		go c.watchProxies(lctx, client)
	}
	go c.keepWarm(lctx)
	c.Logger.Info("tunnel to the proxy is up", "proxy", c.ProxyAddr, "databases", len(c.Registry.List()))
	if c.Connected != nil {
		c.Connected()
	}
	if c.Disconnected != nil {
		defer c.Disconnected()
	}
	for {
		stream, err := sess.Accept()
		if err != nil {
			return fmt.Errorf("the tunnel closed: %w", err)
		}
		go c.serve(lctx, stream)
	}
}

// watchProxies follows the proxy's list of the cluster's proxies while
// the tunnel lasts, opening the stream again if it breaks. A proxy that
// does not know the call (an older keyway) is left alone.
func (c *TunnelClient) watchProxies(ctx context.Context, client apiv1.AgentClient) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := c.followProxies(ctx, client)
		if ctx.Err() != nil {
			return
		}
		if status.Code(err) == codes.Unimplemented {
			c.Logger.Info("the proxy does not tell agents about other proxies", "proxy", c.ProxyAddr)
			return
		}
		c.Logger.Warn("following the cluster's proxies", "proxy", c.ProxyAddr, "error", err, "delay", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (c *TunnelClient) followProxies(ctx context.Context, client apiv1.AgentClient) error {
	stream, err := client.WatchProxies(ctx, &apiv1.WatchProxiesRequest{})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		set := make([]KnownProxy, 0, len(resp.GetProxies()))
		for _, p := range resp.GetProxies() {
			set = append(set, KnownProxy{Addr: p.GetAddr(), HostID: p.GetHostId()})
		}
		c.Proxies(set)
	}
}

// reregister registers the databases again, with their health, at once
// when the registry changes (a db resource added or removed, a check's
// result changed) and at every health interval, until the tunnel closes.
func (c *TunnelClient) reregister(ctx context.Context, closed <-chan struct{}, client apiv1.AgentClient) {
	t := time.NewTicker(HealthInterval)
	defer t.Stop()
	changed, unsubscribe := c.Registry.Subscribe()
	defer unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return
		case <-closed:
			return
		case <-t.C:
		case <-changed:
		}
		if err := c.register(ctx, client); err != nil {
			c.Logger.Warn("reporting database health", "error", err)
		}
	}
}

// register reports the databases with the results of their last checks
// (the Checker's).
func (c *TunnelClient) register(ctx context.Context, client apiv1.AgentClient) error {
	req := &apiv1.RegisterRequest{}
	for _, db := range c.Registry.List() {
		d := &apiv1.Database{Name: db.Name, Description: db.Description, Protocol: db.Protocol, Labels: db.Labels}
		d.Healthy, d.HealthDetail = c.Registry.Health(db.Name)
		req.Databases = append(req.Databases, d)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := client.Register(rctx, req)
	if err != nil {
		return fmt.Errorf("registering databases: %w", err)
	}
	for _, r := range c.refused.fresh(resp.GetRefused()) {
		c.Logger.Error("a database outside this agent's grant was refused", "database", r.GetName(), "reason", r.GetReason())
	}
	return nil
}

// serve reads a session's header from a tunnel stream and delivers it.
func (c *TunnelClient) serve(ctx context.Context, stream net.Conn) {
	_ = stream.SetReadDeadline(time.Now().Add(10 * time.Second))
	meta, err := tunnel.ReadHeader(stream)
	if err != nil {
		_ = stream.Close()
		c.Logger.Warn("bad session header from the proxy", "error", err)
		return
	}
	_ = stream.SetReadDeadline(time.Time{})
	c.handle(ctx, stream, meta, func() { _ = stream.Close() })
}

// handle delivers a session whose header was read, from a tunnel stream
// or a data connection; release closes the stream, once the session
// ended.
func (c *TunnelClient) handle(ctx context.Context, stream net.Conn, meta *pluginv1.Session, release func()) {
	if meta.GetEndSessions() == nil {
		c.lookup(ctx, meta)
	}
	c.deliver(ctx, stream, meta, release)
}

// lookup sets the session's database as this agent serves it, or its
// refusal when the agent does not serve it now.
func (c *TunnelClient) lookup(ctx context.Context, meta *pluginv1.Session) {
	if meta.GetDatabase() == nil || meta.GetRefusal() != nil {
		return
	}
	db, found, err := c.Registry.Get(ctx, meta.GetDatabase().GetName())
	switch {
	case err != nil:
		meta.Refusal = &pluginv1.Refusal{Kind: "unavailable", Message: "keyway: database " + meta.GetDatabase().GetName() + " is unavailable: " + err.Error()}
	case !found:
		meta.Refusal = &pluginv1.Refusal{Kind: "not_found", Message: "keyway: database " + meta.GetDatabase().GetName() + " is not served by this agent"}
	default:
		meta.Database = DatabaseToProto(db)
	}
}

// deliver hands a looked-up session to Deliver.
func (c *TunnelClient) deliver(ctx context.Context, stream net.Conn, meta *pluginv1.Session, release func()) {
	if meta.GetEndSessions() != nil {
		// Not a session: the proxy asks to end some this agent serves.
		c.Deliver(ctx, stream, meta, release)
		return
	}
	// The session's calls go back through this tunnel, to the proxy
	// that holds its grant.
	end := c.Remote.BindSession(meta.GetId(), c.ProxyAddr)
	var once sync.Once
	c.Deliver(ctx, stream, meta, func() { once.Do(func() { end(); release() }) })
}
