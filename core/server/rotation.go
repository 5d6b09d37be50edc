package server

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
)

// rotationTick is how often the auth role looks whether an automatic
// rotation is due to move to its next phase.
const rotationTick = 2 * time.Second

// rotationNotifier runs what must happen at once in this process when an
// authority's rotation changes phase: trust pools are fetched again and
// the proxy's certificates renewed, instead of at their next refresh.
type rotationNotifier struct {
	mu  sync.Mutex
	fns []func()
}

// onChange adds f to what runs after a phase change.
func (r *rotationNotifier) onChange(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fns = append(r.fns, f)
}

// changed runs what was registered.
func (r *rotationNotifier) changed() {
	r.mu.Lock()
	fns := append([]func(){}, r.fns...)
	r.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// notifyingCA tells a rotationNotifier about every phase change made
// through it.
type notifyingCA struct {
	authority.CA
	n *rotationNotifier
}

// Rotate moves a rotation to a phase and, when it moved, notifies.
func (c notifyingCA) Rotate(ctx context.Context, req sdk.RotateRequest) (sdk.AuthorityState, error) {
	st, err := c.CA.Rotate(ctx, req)
	if err == nil {
		c.n.changed()
	}
	return st, err
}

// nextScheduledPhase returns the phase an automatic rotation moves to at
// now, or "" when none is due. The grace period is split in thirds:
// update_clients after the first, update_servers after the second and
// standby at its end. A rollback is finished by an operator.
func nextScheduledPhase(st sdk.AuthorityState, now time.Time) string {
	if !st.Automatic || st.Started.IsZero() {
		return ""
	}
	grace := st.GraceEnds.Sub(st.Started)
	steps := map[string]struct {
		next string
		at   time.Time
	}{
		sdk.PhaseInit:          {sdk.PhaseUpdateClients, st.Started.Add(grace / 3)},
		sdk.PhaseUpdateClients: {sdk.PhaseUpdateServers, st.Started.Add(2 * grace / 3)},
		sdk.PhaseUpdateServers: {sdk.PhaseStandby, st.GraceEnds},
	}
	step, ok := steps[st.Phase]
	if !ok || now.Before(step.at) {
		return ""
	}
	return step.next
}

// walkRotations moves automatic rotations along their schedule through
// ca (audited and notifying) until ctx ends.
func walkRotations(ctx context.Context, ca authority.CA, log hclog.Logger) {
	t := time.NewTicker(rotationTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		states, err := ca.Authorities(ctx)
		if err != nil {
			log.Debug("reading the authorities for scheduled rotations", "error", err)
			continue
		}
		for _, st := range states {
			next := nextScheduledPhase(st, time.Now())
			if next == "" {
				continue
			}
			if _, err := ca.Rotate(ctx, sdk.RotateRequest{Authority: st.Authority, Phase: next}); err != nil {
				log.Error("moving an automatic rotation to its next phase", "authority", st.Authority.String(), "phase", next, "error", err)
				continue
			}
			log.Info("automatic rotation moved to its next phase", "authority", st.Authority.String(), "phase", next)
		}
	}
}

// rotatingCA is ca as this process's rotations go through it: audited,
// and notifying the process of every phase change.
func (n *node) rotatingCA(ca authority.CA) authority.CA {
	return notifyingCA{CA: AuditCA(ca, n.emitAuditDurable), n: &n.rotations}
}
