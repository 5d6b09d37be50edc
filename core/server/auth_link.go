package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/keyway-dev/keyway/core/agent"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
)

// authLink is a proxy's link to the auth service of its cluster when the
// auth role runs in another process (proxy { auth_addrs }): the proxy's
// identity, kept under the data directory, and one gRPC connection to
// the auth service's port, which it dials at the addresses in order.
type authLink struct {
	logger hclog.Logger
	addrs  []string
	// dir holds the identity; sans are the names the proxy's
	// certificate holds.
	dir  string
	sans []string
	id   *agent.CurrentIdentity
	conn *grpc.ClientConn

	// last are the authorities the auth service gave last, kept for
	// when it is away.
	mu   sync.Mutex
	last []sdk.AuthorityState
}

// proxyIdentityDir is where a proxy without the auth role keeps its
// identity.
func proxyIdentityDir(dataDir string) string { return filepath.Join(dataDir, "proxy") }

// joinAuth returns the link of a proxy without the auth role: its saved
// identity or, on the first start, one from joining the cluster at the
// first auth address that answers, with its proxy token.
func joinAuth(ctx context.Context, cfg *config.Config, logger hclog.Logger) (*authLink, error) {
	p := cfg.Proxy
	dir := proxyIdentityDir(cfg.DataDir)
	id, found, err := agent.LoadIdentityAt(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the proxy's identity: %w", err)
	}
	if !found {
		name := p.Name
		if name == "" {
			host, _ := os.Hostname()
			name = sanitizeHostName(host)
		}
		var errs []error
		for _, addr := range p.AuthAddrs {
			if id, err = agent.JoinAt(ctx, addr, p.TokenFile, dir, name); err == nil {
				break
			}
			errs = append(errs, err)
		}
		if err != nil {
			return nil, errors.Join(errs...)
		}
		logger.Info("joined the cluster", "cluster", id.Cluster, "proxy", name, "auth", p.AuthAddrs)
	}
	l := &authLink{logger: logger.Named("auth-link"), addrs: p.AuthAddrs, dir: dir,
		sans: hostSANs(p.PublicAddr, p.Listen), id: agent.NewCurrentIdentity(id)}
	l.conn, err = grpc.NewClient("passthrough:///keyway-auth",
		grpc.WithContextDialer(l.dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS is done by the dialer
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: apiPingTimeout, PermitWithoutStream: true}),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to the auth service: %w", err)
	}
	return l, nil
}

// dial opens a mutual-TLS connection to the first auth address that
// answers, trusting only the cluster's host authority for a host of the
// cluster.
func (l *authLink) dial(ctx context.Context, _ string) (net.Conn, error) {
	pool, err := l.id.HostPool()
	if err != nil {
		return nil, err
	}
	cluster := l.id.Get().Cluster
	var errs []error
	for _, addr := range l.addrs {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("auth address %q: %w", addr, err)
		}
		cfg := &tls.Config{
			MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: host,
			GetClientCertificate: l.id.Certificate, NextProtos: []string{tunnel.ALPNAPI},
			VerifyConnection: func(cs tls.ConnectionState) error {
				return authority.VerifyProxyIdentity(cs.PeerCertificates, cluster, "")
			},
		}
		d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, fmt.Errorf("no auth address answers: %w", errors.Join(errs...))
}

// certificate returns the proxy's certificate now held.
func (l *authLink) certificate() *tls.Certificate {
	c := l.id.Get().Cert
	return &c
}

// renew has the auth service sign the proxy a certificate for its
// addresses, keeps it under the data directory and presents it from then
// on.
func (l *authLink) renew(ctx context.Context) error {
	id := l.id.Get()
	key, err := authority.NewKey("")
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(id.Cert.Certificate[0])
	if err != nil {
		return err
	}
	csr, err := authority.NewCSR(key, leaf.Subject.CommonName)
	if err != nil {
		return err
	}
	resp, err := apiv1.NewProxyAuthClient(l.conn).Certificate(ctx, &apiv1.CertificateRequest{Csr: csr, Sans: l.sans})
	if err != nil {
		return fmt.Errorf("the auth service signing the proxy's certificate: %w", err)
	}
	keyPEM, err := authority.KeyPEM(key)
	if err != nil {
		return err
	}
	chain := append([][]byte{resp.GetCertificate()}, resp.GetChain()...)
	if err := agent.WriteHostFiles(l.dir, keyPEM, chain, resp.GetHostCas()); err != nil {
		return err
	}
	renewed, _, err := agent.LoadIdentityAt(l.dir)
	if err != nil {
		return err
	}
	l.id.Set(renewed)
	return nil
}

// keepFresh renews the proxy's certificate at half its life, sooner
// after a failure, and as soon as the host authority signs servers with
// another key (a rotation), until ctx ends.
func (l *authLink) keepFresh(ctx context.Context) {
	check := time.NewTicker(rotationCheck)
	defer check.Stop()
	retry := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		}
		leaf, err := x509.ParseCertificate(l.id.Get().Cert.Certificate[0])
		due := err != nil || time.Until(leaf.NotAfter) < leaf.NotAfter.Sub(leaf.NotBefore)/2 || !l.signedByCurrent(ctx, leaf)
		if !due || time.Now().Before(retry) {
			continue
		}
		if err := l.renew(ctx); err != nil && ctx.Err() == nil {
			l.logger.Error("renewing the proxy's certificate; trying again in a minute", "error", err)
			retry = time.Now().Add(time.Minute)
		}
	}
}

// signedByCurrent reports whether the host authority's key that signs
// servers now signed leaf; true when the authorities cannot be read, so
// that an absent auth service causes no renewal.
func (l *authLink) signedByCurrent(ctx context.Context, leaf *x509.Certificate) bool {
	states, err := l.Authorities(ctx)
	if err != nil {
		return true
	}
	for _, st := range states {
		if st.Authority != sdk.AuthorityHost || len(st.Certificates) == 0 {
			continue
		}
		signer, err := x509.ParseCertificate(st.Certificates[0])
		if err != nil {
			return true
		}
		return leaf.CheckSignatureFrom(signer) == nil
	}
	return true
}

// Authorities are the cluster's authorities' certificates, from the auth
// service, or the last ones it gave while it cannot be reached: a proxy
// keeps verifying clients and agents while the auth service restarts.
func (l *authLink) Authorities(ctx context.Context) ([]sdk.AuthorityState, error) {
	resp, err := apiv1.NewAgentClient(l.conn).Authorities(ctx, &apiv1.AuthoritiesRequest{})
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if l.last != nil {
			l.logger.Warn("the auth service does not answer; verifying with the authorities it gave last", "error", err)
			return l.last, nil
		}
		return nil, fmt.Errorf("reading the cluster's authorities from the auth service: %w", err)
	}
	l.last = []sdk.AuthorityState{
		{Authority: sdk.AuthorityUser, Certificates: resp.GetUserCas()},
		{Authority: sdk.AuthorityDB, Certificates: resp.GetDbCas()},
		{Authority: sdk.AuthorityHost, Certificates: resp.GetHostCas()},
	}
	return l.last, nil
}

// Sign refuses: a proxy without the auth role holds no authority.
func (l *authLink) Sign(context.Context, sdk.SignRequest) (sdk.SignResponse, error) {
	return sdk.SignResponse{}, errors.New("a proxy without the auth role signs nothing; the auth service does")
}

// Rotate refuses: a proxy without the auth role holds no authority.
func (l *authLink) Rotate(context.Context, sdk.RotateRequest) (sdk.AuthorityState, error) {
	return sdk.AuthorityState{}, errors.New("a proxy without the auth role rotates nothing; the auth service does")
}

// close closes the connection to the auth service.
func (l *authLink) close() { _ = l.conn.Close() }
