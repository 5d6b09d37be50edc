package supervisor

import "time"

// busyShare is the time a plugin's threads spent running or waiting to
// run, as a share of the wall time since the last health check, above
// which a plugin that missed a check is busy rather than frozen. A
// stopped or deadlocked Go process has next to none; one serving a burst
// of sessions has much more, running or queued behind the machine's other
// work.
const busyShare = 0.05

// activityWatch follows a plugin process's activity between health
// checks.
type activityWatch struct {
	pid    int
	at     time.Time
	active time.Duration
	ok     bool
}

// newActivityWatch starts following pid's activity from now.
func newActivityWatch(pid int, now time.Time) activityWatch {
	active, _, ok := processActivity(pid)
	return activityWatch{pid: pid, at: now, active: active, ok: ok}
}

// busy reports whether the process was active for more than busyShare
// of the time since the last look and is not stopped, and starts the
// next interval. A process whose activity cannot be read is never busy.
func (w *activityWatch) busy(now time.Time) bool {
	active, stopped, ok := processActivity(w.pid)
	wasOK, since, before := w.ok, now.Sub(w.at), w.active
	w.at, w.active, w.ok = now, active, ok
	if !ok || !wasOK || stopped || since <= 0 {
		return false
	}
	return float64(active-before) >= busyShare*float64(since)
}
