package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/config"
)

// DatabaseFeed reports the cluster's db resources that match one of the
// selectors: apply gets the whole matching set at once, then again after
// each change. WatchDatabases returns when ctx ends or the feed breaks.
type DatabaseFeed interface {
	WatchDatabases(ctx context.Context, selectors []access.LabelSelector, apply func([]config.Database)) error
}

// Dynamic serves the db resources that match the agent's resources
// selectors: it follows the feed, puts what it reports into the registry
// (which the tunnel client registers with the proxy), checks new
// databases at once, and drops those deleted or no longer matching.
type Dynamic struct {
	Feed      DatabaseFeed
	Selectors []access.LabelSelector
	Registry  *Registry
	Checker   *Checker
	// HasProtocol reports whether this process runs a protocol plugin.
	HasProtocol func(name string) bool
	Logger      hclog.Logger

	// refused remembers why db resources were refused, so each refusal
	// is logged once rather than on every change.
	refused map[string]string
}

// Run follows the feed until ctx ends, starting again after a break with
// a delay from 100 ms doubling up to 10 s. Between a break and the next
// set, the agent keeps serving what it last heard.
func (d *Dynamic) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := d.Feed.WatchDatabases(ctx, d.Selectors, func(dbs []config.Database) { d.apply(ctx, dbs) })
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 30*time.Second {
			backoff = 100 * time.Millisecond
		}
		d.Logger.Warn("watching db resources failed; watching again", "error", err, "delay", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// apply makes dbs the agent's db resources, less those it refuses.
func (d *Dynamic) apply(ctx context.Context, dbs []config.Database) {
	if d.refused == nil {
		d.refused = map[string]string{}
	}
	refused := map[string]string{}
	var accepted []config.Database
	for _, db := range dbs {
		if why := d.refusal(db); why != "" {
			refused[db.Name] = why
			if d.refused[db.Name] != why {
				d.Logger.Error("not serving db resource "+db.Name+": "+why, "database", db.Name)
			}
			continue
		}
		accepted = append(accepted, db)
	}
	d.refused = refused
	added, removed := d.Registry.ReplaceDynamic(accepted)
	if len(added) > 0 {
		d.Logger.Info("serving db resources", "databases", strings.Join(added, ","))
	}
	if len(removed) > 0 {
		d.Logger.Info("stopped serving db resources", "databases", strings.Join(removed, ","))
	}
	if len(added) > 0 && d.Checker != nil {
		d.Checker.Check(ctx, added...)
	}
}

// refusal says why the agent cannot serve a db resource, or "".
func (d *Dynamic) refusal(db config.Database) string {
	if d.Registry.IsStatic(db.Name) {
		return fmt.Sprintf("this agent's configuration has a database block named %s, which it keeps serving; rename one of them", db.Name)
	}
	if d.HasProtocol != nil && !d.HasProtocol(db.Protocol) {
		return fmt.Sprintf("this agent runs no protocol plugin named %q", db.Protocol)
	}
	return ""
}
