package access

import (
	"slices"
	"time"
)

// RoleOptions limit the sessions of a role's holders.
type RoleOptions struct {
	// IdleTimeout, a duration such as "15m", ends a session after that
	// long without traffic from its client; "" for no limit.
	IdleTimeout string `json:"idle_timeout,omitempty"`
	// MaxSessionTTL caps the lifetime of every certificate signed for
	// a holder of the role (login, keyway auth sign), as a Go duration;
	// "" for no cap.
	MaxSessionTTL string `json:"max_session_ttl,omitempty"`
	// MaxConnections caps the sessions a holder of the role may have at
	// once through one proxy; 0 for no cap.
	MaxConnections int `json:"max_connections,omitempty"`
}

// MaxConnections is the smallest max_connections among the roles named,
// and the role that sets it; zero when none sets one.
func MaxConnections(roles []Role, names []string) (int, string) {
	limit, by := 0, ""
	for _, r := range roles {
		n := r.Options.MaxConnections
		if n <= 0 || !slices.Contains(names, r.Name) {
			continue
		}
		if limit == 0 || n < limit {
			limit, by = n, r.Name
		}
	}
	return limit, by
}

// IdleTimeout is the strictest idle_timeout among the roles named;
// zero when none sets one.
func IdleTimeout(roles []Role, names []string) time.Duration {
	d, _ := strictest(roles, names, func(o RoleOptions) string { return o.IdleTimeout })
	return d
}

// SessionTTLCap returns the smallest max_session_ttl among the roles
// named held, and the role that sets it; zero when none sets one.
func SessionTTLCap(all []Role, held []string) (time.Duration, string) {
	return strictest(all, held, func(o RoleOptions) string { return o.MaxSessionTTL })
}

// strictest returns the smallest positive duration an option sets among
// the roles named, and the role that sets it. Durations that do not
// parse are ignored: loading a role refuses them.
func strictest(roles []Role, names []string, option func(RoleOptions) string) (time.Duration, string) {
	var limit time.Duration
	var by string
	for _, r := range roles {
		v := option(r.Options)
		if v == "" || !slices.Contains(names, r.Name) {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			continue
		}
		if limit == 0 || d < limit {
			limit, by = d, r.Name
		}
	}
	return limit, by
}
