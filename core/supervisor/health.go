package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// healthState follows one plugin process's health checks.
type healthState struct {
	activity activityWatch
	// checked is when the last check started; answered when the plugin
	// last answered one, healthy or not.
	checked, answered time.Time
	// unhealthy counts the failed checks in a row.
	unhealthy int
}

func newHealthState(p *process, now time.Time) *healthState {
	return &healthState{activity: newActivityWatch(p.pid, now), checked: now, answered: now}
}

// check runs one health check and returns why the plugin must be
// replaced, or "". A plugin that answers it is unhealthy, or that misses
// HealthFailures checks in a row, is replaced. A plugin that misses a
// check while its threads keep running or waiting to run is busy, not
// frozen: its misses do not count until it has answered none for
// HealthBusyLimit, so a burst of sessions on a saturated machine does not
// cost every session the plugin serves, while a stopped or deadlocked one
// (whose threads sleep) is still found within seconds.
func (in *Instance) check(p *process, h *healthState) string {
	h.checked = time.Now()
	err := in.checkHealth(p)
	now := time.Now()
	busy := h.activity.busy(now)
	var said unhealthyAnswer
	switch {
	case err == nil:
		h.unhealthy, h.answered = 0, now
		return ""
	case errors.As(err, &said):
		h.answered = now
	case busy && now.Sub(h.answered) < in.policy.HealthBusyLimit:
		in.logger.Warn("health check unanswered while the plugin is busy; it is not replaced",
			"error", err, "unanswered_for", now.Sub(h.answered).Round(time.Millisecond), "limit", in.policy.HealthBusyLimit)
		return ""
	case busy:
		return fmt.Sprintf("plugin answered no health check for %s while busy: %v", now.Sub(h.answered).Round(time.Second), err)
	}
	h.unhealthy++
	in.logger.Warn("health check failed", "error", err, "failures", h.unhealthy)
	if h.unhealthy < in.policy.HealthFailures {
		return ""
	}
	return fmt.Sprintf("plugin failed %d health checks: %v", h.unhealthy, err)
}

// healthDue is the time between health checks after unhealthy failures
// in a row.
func (in *Instance) healthDue(unhealthy int) time.Duration {
	if unhealthy > 0 && in.policy.HealthRetryInterval > 0 {
		return min(in.policy.HealthRetryInterval, in.policy.HealthInterval)
	}
	return in.policy.HealthInterval
}

func (in *Instance) checkHealth(p *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), in.policy.HealthTimeout)
	defer cancel()
	// A stopping supervisor does not wait for a frozen plugin's answer.
	go func() {
		select {
		case <-in.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	resp, err := p.conn.Base.Health(ctx, &pluginv1.HealthRequest{})
	if err != nil {
		return err
	}
	if !resp.GetHealthy() {
		return unhealthyAnswer(resp.GetMessage())
	}
	return nil
}

// unhealthyAnswer is a plugin's own answer that it is not healthy, as
// opposed to no answer.
type unhealthyAnswer string

func (u unhealthyAnswer) Error() string { return string(u) }
