package agent

import (
	"sync"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// refusedLog remembers the registrations the proxy refused last time, so
// that the agent logs a refusal when it appears rather than at every
// health report.
type refusedLog struct {
	mu   sync.Mutex
	last map[string]string
}

// fresh returns the refusals not answered at the previous registration,
// and remembers these.
func (l *refusedLog) fresh(refused []*apiv1.RefusedDatabase) []*apiv1.RefusedDatabase {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := make(map[string]string, len(refused))
	var out []*apiv1.RefusedDatabase
	for _, r := range refused {
		now[r.GetName()] = r.GetReason()
		if l.last[r.GetName()] != r.GetReason() {
			out = append(out, r)
		}
	}
	l.last = now
	return out
}
