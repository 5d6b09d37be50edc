package config

import (
	"fmt"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// Pool defaults.
const (
	defaultPoolMaxIdle     = 20
	defaultPoolIdleTimeout = 5 * time.Minute
)

// Pool is a database's pool block: server connections kept after a
// client session ends and reset for the next session of the same
// database user and database.
type Pool struct {
	// Mode is "session", the only mode: a connection serves one client
	// session at a time.
	Mode string `hcl:"mode" json:"mode"`
	// MaxIdle caps the idle connections kept (default 20).
	MaxIdle *int `hcl:"max_idle,optional" json:"max_idle,omitempty"`
	// IdleTimeout is how long an idle connection is kept (default 5m).
	IdleTimeout string `hcl:"idle_timeout,optional" json:"idle_timeout,omitempty"`
}

// Settings is the pool as plugins see it, with defaults applied; nil for
// no pool. It assumes the block passed poolProblems.
func (p *Pool) Settings() *sdk.DatabasePool {
	if p == nil {
		return nil
	}
	out := &sdk.DatabasePool{Mode: p.Mode, MaxIdle: defaultPoolMaxIdle, IdleTimeout: defaultPoolIdleTimeout}
	if p.MaxIdle != nil {
		out.MaxIdle = *p.MaxIdle
	}
	if d, err := time.ParseDuration(p.IdleTimeout); err == nil && p.IdleTimeout != "" {
		out.IdleTimeout = d
	}
	return out
}

// poolProblems checks a database's pool block.
func poolProblems(db string, p *Pool) []problem {
	if p == nil {
		return nil
	}
	var out []problem
	if p.Mode != sdk.PoolModeSession {
		out = append(out, problem{"pool", "Invalid pool mode",
			fmt.Sprintf("Database %q: pool mode = %q; the only mode is \"session\" (a server connection serves one client session at a time).", db, p.Mode)})
	}
	if p.MaxIdle != nil && (*p.MaxIdle < 1 || *p.MaxIdle > 10000) {
		out = append(out, problem{"pool", "Invalid pool size",
			fmt.Sprintf("Database %q: pool max_idle = %d; keep between 1 and 10000 idle connections, or remove the pool block to keep none.", db, *p.MaxIdle)})
	}
	if p.IdleTimeout != "" {
		if d, err := time.ParseDuration(p.IdleTimeout); err != nil || d <= 0 {
			out = append(out, problem{"pool", "Invalid pool idle timeout",
				fmt.Sprintf("Database %q: pool idle_timeout = %q is not a positive duration such as \"5m\".", db, p.IdleTimeout)})
		}
	}
	return out
}
