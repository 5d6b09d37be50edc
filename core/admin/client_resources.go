package admin

import (
	"context"

	"github.com/keyway-dev/keyway/core/access"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/config"
)

// PutRole creates or replaces a role.
func (c *Client) PutRole(ctx context.Context, r access.Role) error {
	_, err := apiv1.NewRolesClient(c.cc).PutRole(ctx, &apiv1.PutRoleRequest{Role: roleToProto(r)})
	return err
}

// Roles lists the roles.
func (c *Client) Roles(ctx context.Context) ([]access.Role, error) {
	resp, err := apiv1.NewRolesClient(c.cc).ListRoles(ctx, &apiv1.ListRolesRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]access.Role, 0, len(resp.GetRoles()))
	for _, r := range resp.GetRoles() {
		out = append(out, roleFromProto(r))
	}
	return out, nil
}

// RemoveRole deletes a role.
func (c *Client) RemoveRole(ctx context.Context, name string) error {
	_, err := apiv1.NewRolesClient(c.cc).RemoveRole(ctx, &apiv1.RemoveRoleRequest{Name: name})
	return err
}

// PutDatabase creates or replaces a db resource.
func (c *Client) PutDatabase(ctx context.Context, db config.Database) error {
	_, err := apiv1.NewDatabaseResourcesClient(c.cc).PutDatabaseResource(ctx, &apiv1.PutDatabaseResourceRequest{Database: databaseToProto(db)})
	return err
}

// Databases lists the db resources.
func (c *Client) Databases(ctx context.Context) ([]config.Database, error) {
	resp, err := apiv1.NewDatabaseResourcesClient(c.cc).ListDatabaseResources(ctx, &apiv1.ListDatabaseResourcesRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]config.Database, 0, len(resp.GetDatabases()))
	for _, db := range resp.GetDatabases() {
		out = append(out, databaseFromProto(db))
	}
	return out, nil
}

// RemoveDatabase deletes a db resource.
func (c *Client) RemoveDatabase(ctx context.Context, name string) error {
	_, err := apiv1.NewDatabaseResourcesClient(c.cc).RemoveDatabaseResource(ctx, &apiv1.RemoveDatabaseResourceRequest{Name: name})
	return err
}

// RemoveAgent frees a joined agent's host name.
func (c *Client) RemoveAgent(ctx context.Context, name string) error {
	_, err := apiv1.NewAgentsClient(c.cc).RemoveAgent(ctx, &apiv1.RemoveAgentRequest{Name: name})
	return err
}
