//go:build !linux

package supervisor

// processActivity cannot read a process's activity here: every plugin
// that misses its health checks counts as frozen.
func processActivity(int) (activity, bool) { return activity{}, false }
