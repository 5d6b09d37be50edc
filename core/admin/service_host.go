package admin

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
)

// hostService serves the Host service: the process itself, its plugins
// and its CA.
type hostService struct {
	apiv1.UnimplementedHostServer
	src Source
}

func (hostService) Ready(context.Context, *apiv1.ReadyRequest) (*apiv1.ReadyResponse, error) {
	return &apiv1.ReadyResponse{}, nil
}

func (s hostService) ListPlugins(ctx context.Context, _ *apiv1.ListPluginsRequest) (*apiv1.ListPluginsResponse, error) {
	out := &apiv1.ListPluginsResponse{}
	for _, p := range s.src.Plugins(ctx) {
		out.Plugins = append(out.Plugins, pluginToProto(p))
	}
	return out, nil
}

func (s hostService) GetProcess(ctx context.Context, _ *apiv1.GetProcessRequest) (*apiv1.GetProcessResponse, error) {
	ps, ok := s.src.(ProcessSource)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this keyway process does not report on itself")
	}
	p := ps.Process(ctx)
	out := &apiv1.GetProcessResponse{OpenFilesSoft: p.OpenFilesSoft, OpenFilesHard: p.OpenFilesHard, OpenFiles: int64(p.OpenFiles)}
	for _, px := range p.Proxies {
		out.Proxies = append(out.Proxies, &apiv1.ProxyStatus{Addr: px.Addr, HostId: px.HostID, Version: px.Version, Problem: px.Problem, Remote: px.Remote})
	}
	return out, nil
}

func (s hostService) ListAuthorities(ctx context.Context, _ *apiv1.ListAuthoritiesRequest) (*apiv1.ListAuthoritiesResponse, error) {
	ca, err := s.ca(ctx)
	if err != nil {
		return nil, err
	}
	states, err := ca.Authorities(ctx)
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListAuthoritiesResponse{}
	for _, st := range states {
		out.Authorities = append(out.Authorities, authorityToProto(st))
	}
	return out, nil
}

func (s hostService) SignCertificate(ctx context.Context, req *apiv1.SignCertificateRequest) (*apiv1.SignCertificateResponse, error) {
	sr, err := signFromProto(req)
	if err != nil {
		return nil, err
	}
	ca, err := s.ca(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := ca.Sign(ctx, sr)
	if err != nil {
		return nil, err
	}
	return &apiv1.SignCertificateResponse{Certificate: resp.Certificate, Chain: resp.Chain}, nil
}

func (s hostService) RotateAuthority(ctx context.Context, req *apiv1.RotateAuthorityRequest) (*apiv1.RotateAuthorityResponse, error) {
	ca, err := s.ca(ctx)
	if err != nil {
		return nil, err
	}
	st, err := ca.Rotate(ctx, rotateFromProto(req))
	if err != nil {
		return nil, err
	}
	return &apiv1.RotateAuthorityResponse{State: authorityToProto(st)}, nil
}

// ca returns the running CA plugin; one that does not answer is
// unavailable.
func (s hostService) ca(ctx context.Context) (authority.CA, error) {
	ca, err := s.src.CA(ctx)
	if err != nil {
		return nil, auth.WithKind(errUnavailable, err)
	}
	return ca, nil
}
