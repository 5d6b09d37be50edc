package apiserver

import (
	"sync"
	"time"
)

// Throttle lets one thing happen per interval: the audit record of an
// agent's refused calls, which the agent could otherwise repeat to
// flood the log. What it holds back is still refused, only not recorded
// again.
type Throttle struct {
	Interval time.Duration

	mu   sync.Mutex
	last time.Time
}

// NewThrottle returns a throttle allowing one event per interval.
func NewThrottle(interval time.Duration) *Throttle { return &Throttle{Interval: interval} }

// Allow reports whether something may happen at now.
func (t *Throttle) Allow(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < t.Interval {
		return false
	}
	t.last = now
	return true
}
