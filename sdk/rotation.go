package sdk

import (
	"fmt"
	"time"
)

// The phases of an authority's rotation. A rotation walks
// init → update_clients → update_servers → standby, and may go to
// rollback from any phase before standby and then to standby.
const (
	// PhaseStandby: no rotation runs; one key signs and is trusted.
	PhaseStandby = "standby"
	// PhaseInit: a new key exists and is trusted everywhere; the old
	// key still signs everything.
	PhaseInit = "init"
	// PhaseUpdateClients: the new key signs client certificates; server
	// certificates are still signed by the old key. Both are trusted.
	PhaseUpdateClients = "update_clients"
	// PhaseUpdateServers: the new key signs everything; both are still
	// trusted, so certificates the old key signed keep working.
	PhaseUpdateServers = "update_servers"
	// PhaseRollback: the old key signs everything again; both are
	// trusted until standby drops the new key.
	PhaseRollback = "rollback"
)

// Phases lists the phases an operator may ask for, in rotation order.
func Phases() []string {
	return []string{PhaseInit, PhaseUpdateClients, PhaseUpdateServers, PhaseStandby, PhaseRollback}
}

// RotateRequest moves an authority's rotation to Phase.
type RotateRequest struct {
	Authority Authority
	Phase     string
	// Grace is, for init, how long the whole rotation is expected to
	// take: an automatic rotation reaches standby when it ends.
	Grace time.Duration
	// Automatic, with init, asks the running keyway to walk the
	// remaining phases on a schedule spread over Grace.
	Automatic bool
}

// CheckPhaseChange returns nil when an authority in phase from may move to
// phase to, and otherwise an error that says what may come next. Plugins
// that keep rotation state call it so every plugin enforces the same order.
func CheckPhaseChange(a Authority, from, to string) error {
	known := false
	for _, p := range Phases() {
		known = known || p == to
	}
	if !known {
		return fmt.Errorf("unknown rotation phase %q: use init, update_clients, update_servers, standby or rollback", to)
	}
	if from == "" {
		from = PhaseStandby
	}
	next := map[string][]string{
		PhaseStandby:       {PhaseInit},
		PhaseInit:          {PhaseUpdateClients, PhaseRollback},
		PhaseUpdateClients: {PhaseUpdateServers, PhaseRollback},
		PhaseUpdateServers: {PhaseStandby, PhaseRollback},
		PhaseRollback:      {PhaseStandby},
	}[from]
	for _, p := range next {
		if p == to {
			return nil
		}
	}
	switch {
	case from == PhaseStandby:
		return fmt.Errorf("the %s authority is not being rotated: a rotation starts with phase init, not %s", a, to)
	case to == PhaseInit:
		return fmt.Errorf("a rotation of the %s authority is already in progress (phase %s): finish it with phase %s or roll it back before starting another", a, from, next[0])
	default:
		return fmt.Errorf("the %s authority is in rotation phase %s: the next phase is %s, not %s", a, from, joinOr(next), to)
	}
}

// joinOr joins phases as "a or b".
func joinOr(ps []string) string {
	out := ""
	for i, p := range ps {
		if i > 0 {
			out += " or "
		}
		out += p
	}
	return out
}
