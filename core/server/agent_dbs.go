package server

import (
	"context"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/config"
)

// authFeed follows the db resources in this process's own state backend,
// for an agent that runs with the auth role.
type authFeed struct{ svc *auth.Service }

func (f authFeed) WatchDatabases(ctx context.Context, selectors []access.LabelSelector, apply func([]config.Database)) error {
	return f.svc.WatchDatabases(ctx, func(all []config.Database) error {
		apply(agent.Select(all, selectors))
		return nil
	})
}
