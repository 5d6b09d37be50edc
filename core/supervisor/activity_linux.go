package supervisor

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is the unit of a process's CPU times in /proc/PID/stat
// (USER_HZ, 100 on every Linux keyway runs on).
const clockTick = 10 * time.Millisecond

// processActivity reads, from /proc, the time pid's threads have spent
// running or waiting to run, and whether the process is stopped (a
// SIGSTOP or a tracer). Waiting counts: on a saturated machine a plugin
// serving a burst of sessions may get little CPU, yet it is not frozen.
// Without the scheduler's statistics it is the CPU time alone. ok is
// false when nothing can be read.
func processActivity(pid int) (active time.Duration, stopped, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, false
	}
	cpu, stopped, ok := parseStat(stat)
	if !ok {
		return 0, false, false
	}
	if sched, ok := threadsSchedstat(pid); ok {
		return sched, stopped, true
	}
	return cpu, stopped, true
}

// parseStat reads the state and the CPU time (user and system) of a
// /proc/PID/stat line.
func parseStat(stat []byte) (cpu time.Duration, stopped, ok bool) {
	// The fields after the command name, which is in parentheses and may
	// hold anything: state is the first, utime and stime the 12th and
	// 13th.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false, false
	}
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 13 {
		return 0, false, false
	}
	utime, err1 := strconv.ParseUint(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false, false
	}
	state := fields[0][0]
	return time.Duration(utime+stime) * clockTick, state == 'T' || state == 't', true
}

// threadsSchedstat sums the time each thread of pid spent on a CPU and
// waiting on a run queue (the first two fields of
// /proc/PID/task/TID/schedstat, in nanoseconds).
func threadsSchedstat(pid int) (time.Duration, bool) {
	files, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	if err != nil || len(files) == 0 {
		return 0, false
	}
	var sum time.Duration
	read := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			// A thread that ended since the listing.
			continue
		}
		fields := bytes.Fields(b)
		if len(fields) < 2 {
			continue
		}
		run, err1 := strconv.ParseUint(string(fields[0]), 10, 64)
		wait, err2 := strconv.ParseUint(string(fields[1]), 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		sum += time.Duration(run + wait)
		read = true
	}
	return sum, read
}
