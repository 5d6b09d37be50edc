package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// path is one way from pgbench to the database. Adding a path is adding
// an entry to allPaths.
type path struct {
	// name labels the path's rows.
	name string
	// start makes the path ready and returns how clients reach it;
	// errUnavailable when this build cannot serve it.
	start func(context.Context, *env) (endpoint, error)
	// only, when set, limits the path to the cells it accepts.
	only func(cell) bool
}

// directName names the path every ratio is relative to.
const directName = "direct-tls"

// allPaths lists the paths in the order they start and run; direct TLS
// first, then the floors (bare relays bounding keyway's topologies), and
// keyway before the agent and keyway-noaudit, which copy its authorities.
func allPaths() []path {
	return []path{
		{name: directName, start: directPath},
		{name: floor1Name, start: floor1Path},
		{name: floor2Name, start: floor2Path},
		{name: "pgbouncer", start: pgbouncerPath},
		{name: "keyway", start: keywayPath},
		{name: "keyway-agent", start: agentPath},
		{name: noAuditName, start: noAuditPath, only: noAuditCells},
		{name: poolName, start: poolPath, only: poolCells},
	}
}

// selectPaths keeps the paths named (all when none is), direct TLS,
// which every ratio needs, and keyway when another keyway path is kept,
// since those start from it.
func selectPaths(all []path, names []string) []path {
	if len(names) == 0 {
		return all
	}
	keep := map[string]bool{directName: true}
	for _, n := range names {
		keep[n] = true
		if strings.HasPrefix(n, "keyway-") {
			keep["keyway"] = true
		}
	}
	var out []path
	for _, p := range all {
		if keep[p.name] {
			out = append(out, p)
		}
	}
	return out
}

// readyPath is a path after its start: an endpoint, or why it has none.
type readyPath struct {
	name string
	ep   endpoint
	// err is errUnavailable, or why the path failed to start.
	err error
	// only, when set, limits the path to the cells it accepts.
	only func(cell) bool
}

// usable reports whether pgbench can run through the path.
func (p readyPath) usable() bool { return p.err == nil }

// runsIn reports whether the path belongs in cell c.
func (p readyPath) runsIn(c cell) bool { return p.only == nil || p.only(c) }

// note is what a row of an unusable path says instead of numbers.
func (p readyPath) note() string {
	if errors.Is(p.err, errUnavailable) {
		return "n/a (not available in this build)"
	}
	return "failed to start: " + shorten(firstLine(p.err.Error()), 100)
}

// startPaths starts every path. A path that fails is reported in its
// rows, except direct TLS, without which no ratio means anything.
func startPaths(ctx context.Context, e *env, paths []path) ([]readyPath, error) {
	var out []readyPath
	for _, p := range paths {
		t0 := time.Now()
		ep, err := p.start(ctx, e)
		switch {
		case err == nil:
			fmt.Fprintf(e.log, "path %s ready in %s\n", p.name, time.Since(t0).Round(time.Millisecond))
		case errors.Is(err, errUnavailable):
			fmt.Fprintf(e.log, "path %s: %v\n", p.name, err)
		case p.name == directName || ctx.Err() != nil:
			return nil, fmt.Errorf("path %s: %w", p.name, err)
		default:
			fmt.Fprintf(e.log, "path %s failed to start: %v\n", p.name, err)
		}
		out = append(out, readyPath{name: p.name, ep: ep, err: err, only: p.only})
	}
	return out, nil
}

// endpointOf returns the endpoint of the path called name.
func endpointOf(paths []readyPath, name string) endpoint {
	for _, p := range paths {
		if p.name == name {
			return p.ep
		}
	}
	return endpoint{}
}
