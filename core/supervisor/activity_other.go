//go:build !linux

package supervisor

import "time"

// processActivity cannot read a process's activity here: every plugin
// that misses its health checks counts as frozen.
func processActivity(int) (active time.Duration, stopped, ok bool) { return 0, false, false }
