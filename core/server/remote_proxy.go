package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/discovery"
	"github.com/keyway-dev/keyway/core/tunnel"
)

// newRemoteProxyRole provisions a proxy without the auth role in its
// process (proxy { auth_addrs }). It holds only its host identity: the
// auth service signs its certificate for its addresses, gives it the
// authorities to verify clients and agents with, decides every session,
// answers its clients' API calls and its agents' calls, which the proxy
// forwards, and publishes it for agents and logins while it announces
// itself.
func newRemoteProxyRole(ctx context.Context, n *node, link *authLink, listener net.Listener) (*proxyRole, error) {
	cfg := n.cfg.Proxy
	logger := n.logger.Named("proxy")
	if err := link.renew(ctx); err != nil {
		if !hasSANs(link.certificate().Leaf, link.certificate().Certificate[0]) {
			return nil, err
		}
		logger.Warn("the auth service does not answer; serving with the certificate it signed last", "error", err)
	}
	r := &proxyRole{
		logger: logger, listener: listener, public: cfg.PublicAddr,
		trust: access.NewTrust(link, 10*time.Second), tunnels: tunnel.NewRegistry(),
		apiLn: tunnel.NewConnListener(&net.TCPAddr{}),
	}
	r.background = []func(context.Context){link.keepFresh, func(ctx context.Context) { r.announce(ctx, link, n.opts.Version) }}
	agents := newAgentForwarder(link, logger)
	r.agentAPI = agents.serve
	r.apiGRPC = grpc.NewServer(append(apiServerOptions(cfg.Handshake(), cfg.APIIdle()), apiForwarder{link.conn}.serverOptions()...)...)
	r.proxy = r.newProxy(n, link.certificate, routes{tunnels: r.tunnels, sup: n.sup, grants: agents})
	return r, nil
}

// hasSANs reports whether a certificate names hosts: one the auth
// service signed for the proxy's addresses, not the one of its join.
func hasSANs(leaf *x509.Certificate, der []byte) bool {
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(der); err != nil {
			return false
		}
	}
	return len(leaf.DNSNames)+len(leaf.IPAddresses) > 0
}

// announce keeps the proxy in the cluster's set of proxies: it holds an
// Announce stream open to the auth service, reporting its health there,
// and opens it again when it breaks, until ctx ends.
func (r *proxyRole) announce(ctx context.Context, link *authLink, version string) {
	backoff := 500 * time.Millisecond
	failing := false
	for ctx.Err() == nil {
		err := r.announceOnce(ctx, link, version)
		if ctx.Err() != nil {
			return
		}
		if !failing {
			r.logger.Warn("cannot announce this proxy to the auth service; agents and logins may not find it until it can", "error", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
		if err == nil {
			backoff = 500 * time.Millisecond
		}
	}
}

// announceOnce holds one Announce stream until it breaks or ctx ends.
func (r *proxyRole) announceOnce(ctx context.Context, link *authLink, version string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := apiv1.NewProxyAuthClient(link.conn).Announce(ctx)
	if err != nil {
		return err
	}
	t := time.NewTicker(discovery.DefaultInterval)
	defer t.Stop()
	for {
		report := &apiv1.AnnounceRequest{PublicAddr: r.public, Version: version, Agents: int32(len(r.tunnels.Agents()))}
		if err := r.ready(); err != nil {
			report.Problem = err.Error()
		}
		if err := stream.Send(report); err != nil {
			return fmt.Errorf("announcing the proxy: %w", err)
		}
		select {
		case <-ctx.Done():
			_, _ = stream.CloseAndRecv()
			return nil
		case <-t.C:
		}
	}
}
