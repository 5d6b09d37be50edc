package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/tunnel"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// Deliver hands a session that arrived through the tunnel to the local
// protocol plugin and relays it; it returns when the session ends.
type Deliver func(ctx context.Context, stream net.Conn, meta *pluginv1.Session)

// TunnelClient keeps the agent's tunnel to its proxy up: it dials out,
// registers the agent's databases, serves the sessions the proxy sends,
// and reconnects with backoff when the tunnel breaks.
type TunnelClient struct {
	ProxyAddr string
	Identity  Identity
	Registry  *Registry
	Remote    *Remote
	Deliver   Deliver
	Logger    hclog.Logger
	// Connected, if set, is called each time the tunnel is up and the
	// databases are registered.
	Connected func()
}

// Run serves until ctx ends.
func (c *TunnelClient) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := c.once(ctx)
		if ctx.Err() != nil {
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

func (c *TunnelClient) tlsConfig() (*tls.Config, error) {
	host, _, err := net.SplitHostPort(c.ProxyAddr)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, der := range c.Identity.HostCAs {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		pool.AddCert(cert)
	}
	return authority.RequireHostIdentity(&tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: host,
		Certificates: []tls.Certificate{c.Identity.Cert}, NextProtos: []string{tunnel.ALPNTunnel},
	}), nil
}

// once runs one tunnel until it breaks.
func (c *TunnelClient) once(ctx context.Context) error {
	cfg, err := c.tlsConfig()
	if err != nil {
		return err
	}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	raw, err := d.DialContext(ctx, "tcp", c.ProxyAddr)
	if err != nil {
		return fmt.Errorf("dialing the proxy: %w", err)
	}
	sess, err := tunnel.Client(raw)
	if err != nil {
		_ = raw.Close()
		return err
	}
	defer func() { _ = sess.Close() }()
	go func() {
		<-ctx.Done()
		_ = sess.Close()
	}()
	conn, err := grpc.NewClient("passthrough:///proxy",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return sess.Open() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // inside the tunnel's mutual TLS
	)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	client := apiv1.NewAgentClient(conn)
	if err := c.register(ctx, client); err != nil {
		return err
	}
	c.Remote.SetClient(client)
	defer c.Remote.SetClient(nil)
	go c.reregister(ctx, sess.CloseChan(), client)
	c.Logger.Info("tunnel to the proxy is up", "proxy", c.ProxyAddr, "databases", len(c.Registry.List()))
	if c.Connected != nil {
		c.Connected()
	}
	for {
		stream, err := sess.Accept()
		if err != nil {
			return err
		}
		go c.serve(ctx, stream)
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
	if _, err := client.Register(rctx, req); err != nil {
		return fmt.Errorf("registering databases: %w", err)
	}
	return nil
}

// serve reads a session's header and delivers it.
func (c *TunnelClient) serve(ctx context.Context, stream net.Conn) {
	defer func() { _ = stream.Close() }()
	_ = stream.SetReadDeadline(time.Now().Add(10 * time.Second))
	meta, err := tunnel.ReadHeader(stream)
	if err != nil {
		c.Logger.Warn("bad session header from the proxy", "error", err)
		return
	}
	_ = stream.SetReadDeadline(time.Time{})
	if meta.GetDatabase() != nil && meta.GetRefusal() == nil {
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
	c.Deliver(ctx, stream, meta)
}
