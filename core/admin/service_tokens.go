package admin

import (
	"context"
	"time"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
)

// tokensService serves the Tokens service.
type tokensService struct {
	apiv1.UnimplementedTokensServer
	src AuthSource
}

func (s tokensService) AddToken(ctx context.Context, req *apiv1.AddTokenRequest) (*apiv1.AddTokenResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	grant, err := auth.ParseGrant(req.GetDbNames(), req.GetDbLabels())
	if err != nil {
		return nil, err
	}
	pin, err := s.src.HostPin(ctx)
	if err != nil {
		return nil, err
	}
	tok, rec, err := svc.AddToken(ctx, req.GetType(), grant, durationOf(req.GetTtl()), pin, time.Now())
	if err != nil {
		return nil, err
	}
	return &apiv1.AddTokenResponse{Token: tok, Record: tokenToProto(rec)}, nil
}

func (s tokensService) ListTokens(ctx context.Context, _ *apiv1.ListTokensRequest) (*apiv1.ListTokensResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	tokens, err := svc.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListTokensResponse{}
	for _, t := range tokens {
		out.Tokens = append(out.Tokens, tokenToProto(t))
	}
	return out, nil
}

func (s tokensService) RemoveToken(ctx context.Context, req *apiv1.RemoveTokenRequest) (*apiv1.RemoveTokenResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	return &apiv1.RemoveTokenResponse{}, svc.RemoveToken(ctx, req.GetId())
}
