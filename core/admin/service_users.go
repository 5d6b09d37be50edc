package admin

import (
	"context"
	"time"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
)

// records returns the auth role's records, or ErrNoAuthRole.
func records(src AuthSource) (*auth.Service, error) {
	if s := src.Auth(); s != nil {
		return s, nil
	}
	return nil, ErrNoAuthRole
}

// usersService serves the Users service.
type usersService struct {
	apiv1.UnimplementedUsersServer
	src AuthSource
}

func (s usersService) AddUser(ctx context.Context, req *apiv1.AddUserRequest) (*apiv1.AddUserResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	u := auth.User{Name: req.GetName(), Roles: req.GetRoles(), DBUsers: req.GetDbUsers(), DBNames: req.GetDbNames()}
	inv, err := svc.AddUser(ctx, u, durationOf(req.GetInviteTtl()), time.Now())
	if err != nil {
		return nil, err
	}
	created, err := svc.GetUser(ctx, u.Name)
	if err != nil {
		return nil, err
	}
	return &apiv1.AddUserResponse{User: userToProto(created), Invite: inv.Secret, InviteExpires: timestamp(inv.Expires)}, nil
}

func (s usersService) ListUsers(ctx context.Context, _ *apiv1.ListUsersRequest) (*apiv1.ListUsersResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	users, err := svc.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := &apiv1.ListUsersResponse{}
	for _, u := range users {
		out.Users = append(out.Users, userToProto(u))
	}
	return out, nil
}

func (s usersService) UpdateUser(ctx context.Context, req *apiv1.UpdateUserRequest) (*apiv1.UpdateUserResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	u, err := svc.UpdateUser(ctx, req.GetName(), stringsOf(req.GetRoles()), stringsOf(req.GetDbUsers()), stringsOf(req.GetDbNames()))
	if err != nil {
		return nil, err
	}
	return &apiv1.UpdateUserResponse{User: userToProto(u)}, nil
}

func (s usersService) RemoveUser(ctx context.Context, req *apiv1.RemoveUserRequest) (*apiv1.RemoveUserResponse, error) {
	svc, err := records(s.src)
	if err != nil {
		return nil, err
	}
	return &apiv1.RemoveUserResponse{}, svc.RemoveUser(ctx, req.GetName())
}
