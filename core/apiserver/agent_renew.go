package apiserver

import (
	"context"
	"crypto/x509"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
)

// RenewHost issues the agent a new host certificate, with the lifetime a
// join gives, for the host name its tunnel's mutual TLS verified: the
// request carries only a CSR, so an agent can renew only itself. The
// answer carries the host authority's trusted certificates, both of them
// during a rotation's grace period, so the agent learns a new host
// authority before the old one goes.
func (a AgentService) RenewHost(ctx context.Context, req *apiv1.RenewHostRequest) (*apiv1.RenewHostResponse, error) {
	if a.Agent == nil || a.Agent.Name == "" {
		return nil, status.Error(codes.FailedPrecondition, "host certificates are renewed only through an agent's tunnel")
	}
	ev := audit.Event{Event: audit.CertIssued, Code: "TC001", Target: "host/" + a.Agent.Name, Reason: "renewal"}
	if l, err := a.S.lockOf(ctx, "", nil, "", a.Agent.Name); err != nil || l != nil {
		msg := "keyway cannot read its locks, so the renewal is refused until it can"
		if l != nil {
			msg = l.Sentence()
		}
		err = status.Error(codes.PermissionDenied, msg)
		a.S.record(ctx, ev, err)
		return nil, err
	}
	resp, err := authority.IssueHost(ctx, a.S.CA, authority.HostRequest{
		Cluster: a.S.Cluster, Name: a.Agent.Name, TTL: a.S.hostTTL(),
	}, req.GetCsr(), a.S.now())
	if err != nil {
		err = status.Errorf(codes.InvalidArgument, "renewing the host certificate of %s: %v", a.Agent.Name, err)
		a.S.record(ctx, ev, err)
		return nil, err
	}
	leaf, err := x509.ParseCertificate(resp.Certificate)
	if err != nil {
		err = status.Errorf(codes.Internal, "the renewed host certificate of %s: %v", a.Agent.Name, err)
		a.S.record(ctx, ev, err)
		return nil, err
	}
	hostCAs, err := a.S.hostCAs(ctx)
	if err != nil {
		a.S.record(ctx, ev, err)
		return nil, err
	}
	if err := a.S.Auth.RenewHostName(ctx, a.Agent.Name, leaf.NotAfter.Sub(a.S.now()), a.S.now()); err != nil {
		err = status.Errorf(codes.Unavailable, "recording the host name of %s: %v", a.Agent.Name, err)
		a.S.record(ctx, ev, err)
		return nil, err
	}
	a.S.record(ctx, ev, nil)
	return &apiv1.RenewHostResponse{Certificate: resp.Certificate, HostCas: hostCAs, NotAfterUnix: leaf.NotAfter.Unix()}, nil
}
