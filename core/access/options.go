package access

import (
	"slices"
	"time"
)

// RoleOptions are a role's limits on the identities that hold it.
type RoleOptions struct {
	// MaxSessionTTL caps the lifetime of every certificate signed for
	// a holder of the role (login, keyway auth sign), as a Go duration;
	// empty for no cap.
	MaxSessionTTL string `json:"max_session_ttl,omitempty"`
}

// SessionTTLCap returns the smallest max_session_ttl among the roles
// named held, and the role that sets it; zero when none sets one.
// Durations that do not parse are ignored: loading a role refuses them.
func SessionTTLCap(all []Role, held []string) (time.Duration, string) {
	var limit time.Duration
	var by string
	for _, r := range all {
		if r.Options == nil || r.Options.MaxSessionTTL == "" || !slices.Contains(held, r.Name) {
			continue
		}
		d, err := time.ParseDuration(r.Options.MaxSessionTTL)
		if err != nil || d <= 0 {
			continue
		}
		if limit == 0 || d < limit {
			limit, by = d, r.Name
		}
	}
	return limit, by
}
