package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/tunnel"
)

// dialTimeout bounds the TCP connection to one proxy before the next is
// tried.
const dialTimeout = 5 * time.Second

// Addresses are the proxies to try, in order: the one given at login,
// then the others the cluster named then.
func (p *Profile) Addresses() []string {
	out := []string{p.Proxy}
	for _, a := range p.Proxies {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// TLSConfig trusts the cluster's host authority for the proxy and
// presents cert (when it has one).
func (p *Profile) TLSConfig(cert *tls.Certificate, nextProtos ...string) (*tls.Config, error) {
	return p.tlsConfigFor(p.Proxy, cert, nextProtos...)
}

// tlsConfigFor is TLSConfig for the proxy at addr: the name checked in
// its certificate is addr's host.
func (p *Profile) tlsConfigFor(addr string, cert *tls.Certificate, nextProtos ...string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("proxy address %q: %w", addr, err)
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

// DialTCP connects to the first proxy that accepts a TCP connection, in
// the order of Addresses, and returns the connection with the address
// it reached. Only refusals and timeouts move on to the next proxy.
func (p *Profile) DialTCP(ctx context.Context) (net.Conn, string, error) {
	var errs []error
	for _, addr := range p.Addresses() {
		d := net.Dialer{Timeout: dialTimeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c, addr, nil
		}
		if ctx.Err() != nil {
			return nil, "", fmt.Errorf("connecting to the proxy at %s: %w", addr, err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, "", fmt.Errorf("no proxy of the cluster accepts connections: %w", errors.Join(errs...))
}

// DialTLS is DialTCP followed by TLS with cert and ALPN nextProtos,
// checking the certificate of whichever proxy answered for its own name
// and for a host identity of the profile's cluster. It is for keyway's
// own protocols: the cluster API and keyway-db sessions.
func (p *Profile) DialTLS(ctx context.Context, cert *tls.Certificate, nextProtos ...string) (*tls.Conn, string, error) {
	raw, addr, err := p.DialTCP(ctx)
	if err != nil {
		return nil, "", err
	}
	cfg, err := p.tlsConfigFor(addr, cert, nextProtos...)
	if err != nil {
		_ = raw.Close()
		return nil, "", err
	}
	// Keyway's API is served only under the proxy's host identity.
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return authority.VerifyProxyIdentity(cs.PeerCertificates, p.Cluster, "")
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = raw.Close()
		return nil, "", fmt.Errorf("TLS with the proxy at %s: %w", addr, err)
	}
	return tc, addr, nil
}

// API connects to the cluster API as the user through the first proxy
// that accepts a connection.
func (p *Profile) API(ctx context.Context, cert tls.Certificate) (*grpc.ClientConn, error) {
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		c, _, err := p.DialTLS(ctx, &cert, tunnel.ALPNAPI)
		return c, err
	}
	conn, err := grpc.NewClient("passthrough:///"+p.Proxy,
		grpc.WithContextDialer(dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS is done by the dialer
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster API: %w", err)
	}
	return conn, nil
}
