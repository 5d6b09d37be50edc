package agent

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/sdk"
)

// HealthInterval is how often an agent checks its databases.
const HealthInterval = 5 * time.Second

// Checker checks the registry's databases at an interval and records the
// results in the registry, whose subscribers (the tunnel client) report
// them to the proxy.
type Checker struct {
	Registry *Registry
	// Interval defaults to HealthInterval.
	Interval time.Duration
	// Probe checks one database, the way its protocol's sessions connect
	// (the protocol plugin's own check).
	Probe  func(ctx context.Context, db sdk.Database) error
	Logger hclog.Logger
}

// Run checks every database now and then at each interval until ctx
// ends.
func (c *Checker) Run(ctx context.Context) {
	interval := c.Interval
	if interval <= 0 {
		interval = HealthInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c.CheckAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CheckAll checks every database once, concurrently.
func (c *Checker) CheckAll(ctx context.Context) {
	var names []string
	for _, db := range c.Registry.List() {
		names = append(names, db.Name)
	}
	c.Check(ctx, names...)
}

// Check checks the named databases concurrently and returns when all are
// done.
func (c *Checker) Check(ctx context.Context, names ...string) {
	var wg sync.WaitGroup
	for _, name := range names {
		// With its trust resolved, so the probe can verify the server; a
		// cluster authority that cannot be fetched (the tunnel is down)
		// leaves the probe unverified rather than failing it.
		db, found, err := c.Registry.Get(ctx, name)
		if err != nil {
			db, found = c.Registry.definition(name)
		}
		if !found {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Probe(ctx, db)
			if ctx.Err() != nil {
				return
			}
			if c.Registry.SetHealth(name, err) && c.Logger != nil {
				if err != nil {
					c.Logger.Warn("database check failed", "database", name, "address", db.URI, "error", err)
				} else {
					c.Logger.Info("database check passes", "database", name, "address", db.URI)
				}
			}
		}()
	}
	wg.Wait()
}
