package apiserver

import (
	"context"
	"crypto/x509"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/discovery"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// ProxyAuthService serves proxies that run without the auth role (the
// ProxyAuth service): their certificates, their records in the cluster's
// set of proxies, and their agents' tunnels and sessions.
type ProxyAuthService struct {
	apiv1.UnimplementedProxyAuthServer
	S *Server
	// Logger reports failures to publish a proxy's record.
	Logger hclog.Logger
}

// Certificate signs the proxy's host certificate for the names it is
// reached by, for the name its current certificate proves, and extends
// its claim on the name. Each one is recorded as cert.issued (TC001).
func (p ProxyAuthService) Certificate(ctx context.Context, req *apiv1.CertificateRequest) (*apiv1.CertificateResponse, error) {
	name, _, err := p.S.proxyCaller(ctx)
	if err != nil {
		return nil, err
	}
	ev := audit.Event{Event: audit.CertIssued, Code: "TC001", Target: "host/" + name, Reason: "proxy certificate for " + strings.Join(req.GetSans(), ", ")}
	now := p.S.now()
	resp, err := authority.IssueHost(ctx, p.S.CA, authority.HostRequest{
		Cluster: p.S.Cluster, Name: name, SANs: req.GetSans(), TTL: p.S.hostTTL(),
	}, req.GetCsr(), now)
	if err != nil {
		err = status.Error(codes.InvalidArgument, err.Error())
		p.S.record(ctx, ev, err)
		return nil, err
	}
	if err := p.S.Auth.RenewHostName(ctx, name, p.S.hostTTL(), now); err != nil {
		err = status.Error(codes.Unavailable, err.Error())
		p.S.record(ctx, ev, err)
		return nil, err
	}
	p.S.record(ctx, ev, nil)
	hostCAs, err := p.S.hostCAs(ctx)
	if err != nil {
		return nil, err
	}
	out := &apiv1.CertificateResponse{Certificate: resp.Certificate, Chain: resp.Chain, HostCas: hostCAs}
	if leaf, err := x509.ParseCertificate(resp.Certificate); err == nil {
		out.NotAfterUnix = leaf.NotAfter.Unix()
	}
	return out, nil
}

// Announce publishes the proxy in the cluster's set of proxies, with the
// health of its last report, for as long as the stream lasts, renewing
// the record as an in-process proxy does; the record goes when the
// stream ends, or expires when the auth service cannot remove it.
func (p ProxyAuthService) Announce(stream apiv1.ProxyAuth_AnnounceServer) error {
	ctx := stream.Context()
	name, id, err := p.S.proxyCaller(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetPublicAddr() == "" {
		return status.Error(codes.InvalidArgument, "the proxy's announcement has no public address")
	}
	logger := p.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	pub := &discovery.Publisher{State: p.S.Auth.State, Logger: logger}
	self := func(r *apiv1.AnnounceRequest) discovery.Proxy {
		return discovery.Proxy{Addr: first.GetPublicAddr(), HostID: id.ID.String(), Version: r.GetVersion(), Problem: r.GetProblem(), Remote: true}
	}
	pub.Self = self(first)
	reports := make(chan *apiv1.AnnounceRequest)
	ended := make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				ended <- err
				return
			}
			select {
			case reports <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	t := time.NewTicker(discovery.DefaultInterval)
	defer t.Stop()
	defer pub.Remove()
	failing := false
	for {
		err := pub.Beat(ctx)
		if err != nil && ctx.Err() == nil && !failing {
			logger.Warn("cannot publish a proxy in the state backend; agents may not find it", "proxy", name, "address", pub.Self.Addr, "error", err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return nil
		case <-ended:
			return nil
		case r := <-reports:
			pub.Self = self(r)
		case <-t.C:
		}
	}
}

// Tunnel keeps the auth service's entry of one agent's tunnel to the
// proxy while the stream lasts: it confirms the entry with an order 0,
// then sends the orders to end the agent's sessions and takes the
// proxy's answers.
func (p ProxyAuthService) Tunnel(stream apiv1.ProxyAuth_TunnelServer) error {
	if p.S.Remote == nil {
		return status.Error(codes.Unimplemented, "this auth service takes no tunnels from proxies")
	}
	ctx := stream.Context()
	name, _, err := p.S.proxyCaller(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if err := p.checkAgent(ctx, first); err != nil {
		return err
	}
	t, err := p.S.Remote.open(name, first.GetTunnelId(), first.GetAgent())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	defer p.S.Remote.close(name, first.GetTunnelId(), t)
	if err := stream.Send(&apiv1.TunnelResponse{}); err != nil {
		return err
	}
	answers := make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				answers <- err
				return
			}
			t.answered(r.GetOrder(), r.GetError())
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-answers:
			return nil
		case o := <-t.orders:
			if err := stream.Send(o); err != nil {
				return err
			}
		}
	}
}

// Route records the grant of a session the proxy routes to an agent
// through one of its tunnels, or the end of its session.
func (p ProxyAuthService) Route(ctx context.Context, req *apiv1.RouteRequest) (*apiv1.RouteResponse, error) {
	if p.S.Remote == nil {
		return nil, status.Error(codes.Unimplemented, "this auth service takes no tunnels from proxies")
	}
	name, _, err := p.S.proxyCaller(ctx)
	if err != nil {
		return nil, err
	}
	t, ok := p.S.Remote.get(name, req.GetTunnelId())
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "the proxy %s has no tunnel %s open at the auth service", name, req.GetTunnelId())
	}
	t.route(p.S.Grants, req.GetSessionId(), func() Grant {
		return NewGrant(t.Agent.Name, req.GetSessionId(), req.GetDatabase(), req.GetClientCertificates())
	}, req.GetEnded())
	return &apiv1.RouteResponse{}, nil
}

// checkAgent verifies the host certificate chain the agent presented to
// the proxy, and that it names the agent the tunnel is for: a proxy
// speaks only for agents that reached it.
func (p ProxyAuthService) checkAgent(ctx context.Context, first *apiv1.TunnelRequest) error {
	var certs []*x509.Certificate
	for _, der := range first.GetAgentCertificates() {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return status.Error(codes.InvalidArgument, "parsing the agent's certificate: "+err.Error())
		}
		certs = append(certs, c)
	}
	leaf, err := p.S.Trust.VerifyHost(ctx, certs)
	if err != nil {
		return status.Errorf(codes.PermissionDenied, "the agent's certificate: %v", err)
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil || id.Kind != identity.KindHost || id.Name != first.GetAgent() {
		return status.Errorf(codes.PermissionDenied, "the tunnel is for the agent %s, whose host certificate it does not carry", first.GetAgent())
	}
	return nil
}
