package access

import "context"

// Role is a set of permissions, as the authorisation plugin reads it.
type Role struct {
	Name string `json:"name"`
	// SpiffeIDs give the role to identities matching these patterns
	// without it being assigned (e.g. spiffe://example/bot/*).
	SpiffeIDs []string `json:"spiffe_ids,omitempty"`
	Allow     Rule     `json:"allow"`
	Deny      Rule     `json:"deny"`
	// Options limit the sessions of the role's holders.
	Options RoleOptions `json:"options,omitzero"`
}

// Rule matches databases by labels, database users and logical databases.
type Rule struct {
	DBLabels map[string][]string `json:"db_labels,omitempty"`
	DBUsers  []string            `json:"db_users,omitempty"`
	DBNames  []string            `json:"db_names,omitempty"`
	Admin    bool                `json:"admin,omitempty"`
}

// BuiltinRoles are the roles every cluster has: access (databases per the
// user's own traits) and editor (administration).
func BuiltinRoles() []Role {
	return []Role{
		{
			Name: "access",
			Allow: Rule{
				DBLabels: map[string][]string{"*": {"*"}},
				DBUsers:  []string{"{{internal.db_users}}"},
				DBNames:  []string{"{{internal.db_names}}"},
			},
		},
		{Name: "editor", Allow: Rule{Admin: true}},
	}
}

// RoleSource lists the cluster's roles.
type RoleSource interface {
	Roles(ctx context.Context) ([]Role, error)
}

// StaticRoles is a fixed list of roles.
type StaticRoles []Role

// Roles returns the list.
func (s StaticRoles) Roles(context.Context) ([]Role, error) { return s, nil }
