package server

import (
	"context"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/config"
)

// serveDatabases starts what keeps the agent's registry current: the
// health checker, and, when the db block has resources selectors, the
// watch of the cluster's db resources, through the tunnel on a remote
// agent and from the state backend on an all-in-one host.
func (n *node) serveDatabases() {
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = append(n.stop, cancel)
	logger := n.logger.Named("agent")
	checker := &agent.Checker{Registry: n.local, Probe: n.probeDatabase, Logger: logger}
	go checker.Run(ctx)

	selectors := n.cfg.DB.Selectors()
	if len(selectors) == 0 {
		return
	}
	var feed agent.DatabaseFeed = n.remote
	if n.remote == nil {
		feed = authFeed{n.authSvc}
	}
	d := &agent.Dynamic{
		Feed: feed, Selectors: selectors, Registry: n.local, Checker: checker,
		HasProtocol: n.hasProtocol, Logger: logger,
	}
	go d.Run(ctx)
}

// hasProtocol reports whether this process runs a plugin of the
// protocol called name.
func (n *node) hasProtocol(name string) bool {
	_, err := n.sup.Protocol(name)
	return err == nil
}

// authFeed follows the db resources in this process's own state backend,
// for an agent that runs with the auth role.
type authFeed struct{ svc *auth.Service }

func (f authFeed) WatchDatabases(ctx context.Context, selectors []access.LabelSelector, apply func([]config.Database)) error {
	return f.svc.WatchDatabases(ctx, func(all []config.Database) error {
		apply(agent.Select(all, selectors))
		return nil
	})
}
