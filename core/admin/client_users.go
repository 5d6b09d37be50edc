package admin

import (
	"context"
	"time"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/auth"
)

// UserRequest adds or updates a user. In an update, a nil list leaves
// the user's as it is and an empty one clears it.
type UserRequest struct {
	Name      string
	Roles     []string
	DBUsers   []string
	DBNames   []string
	InviteTTL time.Duration
}

// UserInvite answers a user's creation.
type UserInvite struct {
	User    auth.User
	Invite  string
	Expires time.Time
}

// AddUser creates a user and returns the invite.
func (c *Client) AddUser(ctx context.Context, req UserRequest) (UserInvite, error) {
	resp, err := apiv1.NewUsersClient(c.cc).AddUser(ctx, &apiv1.AddUserRequest{
		Name: req.Name, Roles: req.Roles, DbUsers: req.DBUsers, DbNames: req.DBNames, InviteTtl: duration(req.InviteTTL),
	})
	if err != nil {
		return UserInvite{}, err
	}
	return UserInvite{User: userFromProto(resp.GetUser()), Invite: resp.GetInvite(), Expires: timeOf(resp.GetInviteExpires())}, nil
}

// Users lists the users. Their password and invite hashes read "-" when
// set: they never leave the auth process.
func (c *Client) Users(ctx context.Context) ([]auth.User, error) {
	resp, err := apiv1.NewUsersClient(c.cc).ListUsers(ctx, &apiv1.ListUsersRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]auth.User, 0, len(resp.GetUsers()))
	for _, u := range resp.GetUsers() {
		out = append(out, userFromProto(u))
	}
	return out, nil
}

// UpdateUser changes a user's roles and traits.
func (c *Client) UpdateUser(ctx context.Context, req UserRequest) (auth.User, error) {
	resp, err := apiv1.NewUsersClient(c.cc).UpdateUser(ctx, &apiv1.UpdateUserRequest{
		Name: req.Name, Roles: stringList(req.Roles), DbUsers: stringList(req.DBUsers), DbNames: stringList(req.DBNames),
	})
	if err != nil {
		return auth.User{}, err
	}
	return userFromProto(resp.GetUser()), nil
}

// RemoveUser deletes a user.
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	_, err := apiv1.NewUsersClient(c.cc).RemoveUser(ctx, &apiv1.RemoveUserRequest{Name: name})
	return err
}
