package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"google.golang.org/grpc"

	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/tunnel"
)

// TLSConfig trusts the cluster's host authority for the proxy and
// presents cert (when it has one).
func (p *Profile) TLSConfig(cert *tls.Certificate, nextProtos ...string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(p.Proxy)
	if err != nil {
		return nil, fmt.Errorf("proxy address %q: %w", p.Proxy, err)
	}
	cfg, err := authority.TLSWithCAs(p.HostCAs, host, nextProtos...)
	if err != nil {
		return nil, err
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg, nil
}

// API connects to the cluster API as the user.
func (p *Profile) API(ctx context.Context, cert tls.Certificate) (*grpc.ClientConn, error) {
	cfg, err := p.TLSConfig(&cert, tunnel.ALPNAPI)
	if err != nil {
		return nil, err
	}
	return agent.DialAPI(ctx, p.Proxy, cfg)
}
