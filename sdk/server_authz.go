package sdk

import (
	"context"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// authzServer adapts an AuthzPlugin to the Authz service.
type authzServer struct {
	pluginv1.UnimplementedAuthzServer
	impl AuthzPlugin
}

func (s *authzServer) Authorize(ctx context.Context, req *pluginv1.AuthorizeRequest) (*pluginv1.AuthorizeResponse, error) {
	d, err := s.impl.Authorize(ctx, req.GetAction(), req.GetInputJson())
	if err != nil {
		return nil, err
	}
	resp := &pluginv1.AuthorizeResponse{Allow: d.Allow}
	for _, r := range d.Reasons {
		resp.Reasons = append(resp.Reasons, &pluginv1.Reason{Effect: r.Effect, Role: r.Role, Rule: r.Rule, Message: r.Message})
	}
	return resp, nil
}
