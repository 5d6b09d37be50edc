package main

import (
	"context"
	"strings"
)

// poolName is keyway all-in-one with its database's server connections
// pooled: its -C rows show what reusing them saves a new session.
const poolName = "keyway-pool"

// poolConfig is allInOneConfig with a pool in the database block, large
// enough to keep a connection for every client of the matrix.
var poolConfig = strings.Replace(allInOneConfig, `    uri      = %q
`, `    uri      = %q

    pool {
      mode         = "session"
      max_idle     = 64
      idle_timeout = "5m"
    }
`, 1)

// poolCells are where keyway-pool runs: the -C cells, where a session's
// server connection is new for every transaction without a pool.
func poolCells(c cell) bool { return c.connect }

// poolPath starts a third all-in-one keyway whose database pools server
// connections.
func poolPath(ctx context.Context, e *env) (endpoint, error) {
	return secondKeyway(ctx, e, poolName, poolConfig)
}
