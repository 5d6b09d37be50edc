package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/keyway-dev/keyway/core/admin"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/apiserver"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/tunnel"
)

// authPortHandshake bounds a connection's TLS handshake on the auth
// service's port.
const authPortHandshake = 10 * time.Second

// authPort is the auth service's own port (auth { listen }), where
// proxies without the auth role join and call the cluster API: the
// ProxyAuth service, their agents' Agent calls, and the calls of their
// clients, which they forward naming each client.
type authPort struct {
	logger hclog.Logger
	ln     net.Listener
	cert   *hostCert
	conns  *tunnel.ConnListener
	grpc   *grpc.Server
}

// newAuthPort issues the auth service's certificate for the port's
// addresses and builds the API it serves.
func newAuthPort(ctx context.Context, n *node, a *authRole, src admin.Source, ln net.Listener) (*authPort, error) {
	logger := n.logger.Named("auth-port")
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "auth"
	}
	cert := &hostCert{ca: a.api.CA, log: logger, kick: make(chan struct{}, 1), req: authority.HostRequest{
		Cluster: n.cluster, Name: sanitizeHostName(name), SANs: hostSANs(n.cfg.Auth.PublicAddr, n.cfg.Auth.Listen), TTL: hostCertTTL,
	}}
	if err := cert.renew(ctx); err != nil {
		return nil, fmt.Errorf("issuing the auth service's host certificate: %w", err)
	}
	n.rotations.onChange(cert.kickRenew)
	p := &authPort{logger: logger, ln: ln, cert: cert, conns: tunnel.NewConnListener(ln.Addr())}
	p.grpc = grpc.NewServer(append(authPortOptions(),
		a.api.ForwardedUnary(), a.api.ForwardedStream(), a.api.UnaryLimits(), a.api.StreamLimits())...)
	apiv1.RegisterAuthServer(p.grpc, apiserver.AuthService{S: a.api})
	apiv1.RegisterUserServer(p.grpc, apiserver.UserService{S: a.api})
	apiserver.RegisterAdmin(p.grpc, a.api, src)
	apiv1.RegisterAgentServer(p.grpc, apiserver.ForwardedAgents{S: a.api})
	apiv1.RegisterProxyAuthServer(p.grpc, apiserver.ProxyAuthService{S: a.api, Logger: n.logger.Named("discovery")})
	return p, nil
}

// Run serves the port until ctx ends, keeping its certificate fresh.
func (p *authPort) Run(ctx context.Context) error {
	var background sync.WaitGroup
	defer background.Wait()
	background.Go(func() { p.cert.keepFresh(ctx) })
	go func() { _ = p.grpc.Serve(p.conns) }()
	p.logger.Info("auth service listening for proxies", "address", p.ln.Addr().String())
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12, NextProtos: []string{tunnel.ALPNAPI}, ClientAuth: tls.RequestClientCert,
		// Proxies do not resume sessions; no ticket is made.
		SessionTicketsDisabled: true,
		GetCertificate:         func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.cert.cert.Load(), nil },
	}
	accepted := make(chan error, 1)
	go func() {
		for {
			c, err := p.ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			go p.handshake(ctx, tls.Server(c, cfg))
		}
	}()
	select {
	case <-ctx.Done():
		_ = p.ln.Close()
		return nil
	case err := <-accepted:
		if errors.Is(err, net.ErrClosed) && ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("the auth service's port stopped accepting: %w", err)
	}
}

// handshake completes a connection's TLS and hands it to the API, or
// closes it when it does not speak the API.
func (p *authPort) handshake(ctx context.Context, c *tls.Conn) {
	_ = c.SetDeadline(time.Now().Add(authPortHandshake))
	if err := c.HandshakeContext(ctx); err != nil {
		p.logger.Debug("TLS handshake failed", "client", c.RemoteAddr().String(), "error", err)
		_ = c.Close()
		return
	}
	if c.ConnectionState().NegotiatedProtocol != tunnel.ALPNAPI {
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	if !p.conns.Deliver(c) {
		_ = c.Close()
	}
}

// close stops the API's server; the process calls it after the plugins
// stopped, so that the last events forwarded through proxies land.
func (p *authPort) close() {
	_ = p.conns.Close()
	p.grpc.Stop()
}
