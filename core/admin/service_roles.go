package admin

import (
	"context"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// rolesService serves the Roles service.
type rolesService struct {
	apiv1.UnimplementedRolesServer
	src AuthSource
}

func (s rolesService) PutRole(ctx context.Context, req *apiv1.PutRoleRequest) (*apiv1.PutRoleResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	return &apiv1.PutRoleResponse{}, svc.PutRole(ctx, roleFromProto(req.GetRole()))
}

func (s rolesService) ListRoles(ctx context.Context, _ *apiv1.ListRolesRequest) (*apiv1.ListRolesResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	roles, err := svc.Roles(ctx)
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListRolesResponse{}
	for _, r := range roles {
		out.Roles = append(out.Roles, roleToProto(r))
	}
	return out, nil
}

func (s rolesService) RemoveRole(ctx context.Context, req *apiv1.RemoveRoleRequest) (*apiv1.RemoveRoleResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	return &apiv1.RemoveRoleResponse{}, svc.RemoveRole(ctx, req.GetName())
}
