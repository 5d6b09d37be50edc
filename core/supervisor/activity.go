package supervisor

import "time"

// busyShare is the time a plugin's threads spent running or waiting to
// run, as a share of the wall time since the last health check, above
// which a plugin that missed a check is busy rather than frozen. A
// stopped or deadlocked Go process has next to none; one serving a burst
// of sessions has much more, running or queued behind the machine's other
// work.
const busyShare = 0.05

// activity is one reading of a process's activity.
type activity struct {
	// cpu is the process's CPU time (user and system, all threads).
	cpu time.Duration
	// threads holds, by thread id, the time each thread spent on a CPU
	// and waiting on a run queue; nil when the scheduler's statistics
	// could not be read.
	threads map[int]time.Duration
	// stopped is set for a stopped or traced process.
	stopped bool
}

// activeSince returns the time the process was active between an
// earlier reading and this one. With the scheduler's statistics in both
// it adds each thread's own growth, so a thread that ended in between
// takes nothing away and one that started counts from zero; otherwise it
// is the growth of the CPU time, never a mix of the two quantities.
func (a activity) activeSince(before activity) time.Duration {
	if a.threads == nil || before.threads == nil {
		return max(a.cpu-before.cpu, 0)
	}
	var sum time.Duration
	for tid, now := range a.threads {
		sum += max(now-before.threads[tid], 0)
	}
	return sum
}

// activityWatch follows a plugin process's activity between health
// checks.
type activityWatch struct {
	pid  int
	at   time.Time
	last activity
	ok   bool
}

// newActivityWatch starts following pid's activity from now.
func newActivityWatch(pid int, now time.Time) activityWatch {
	last, ok := processActivity(pid)
	return activityWatch{pid: pid, at: now, last: last, ok: ok}
}

// busy reports whether the process was active for more than busyShare
// of the time since the last look and is not stopped, and starts the
// next interval. A process whose activity cannot be read is never busy.
func (w *activityWatch) busy(now time.Time) bool {
	cur, ok := processActivity(w.pid)
	wasOK, since, before := w.ok, now.Sub(w.at), w.last
	w.at, w.last, w.ok = now, cur, ok
	if !ok || !wasOK || cur.stopped || since <= 0 {
		return false
	}
	return float64(cur.activeSince(before)) >= busyShare*float64(since)
}
