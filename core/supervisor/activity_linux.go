package supervisor

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of a process's CPU times in /proc/PID/stat
// (USER_HZ, 100 on every Linux keyway runs on).
const clockTick = 10 * time.Millisecond

// processActivity reads, from /proc, pid's CPU time, the time each of
// its threads spent running or waiting to run, and whether it is stopped
// (a SIGSTOP or a tracer). Waiting counts: on a saturated machine a
// plugin serving a burst of sessions may get little CPU, yet it is not
// frozen. ok is false when nothing can be read.
func processActivity(pid int) (activity, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return activity{}, false
	}
	cpu, stopped, ok := parseStat(stat)
	if !ok {
		return activity{}, false
	}
	return activity{cpu: cpu, threads: threadsSchedstat(pid), stopped: stopped}, true
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

// threadsSchedstat reads, for each thread of pid, the time it spent on a
// CPU and waiting on a run queue (the first two fields of
// /proc/PID/task/TID/schedstat, in nanoseconds). It returns nil when no
// thread's statistics can be read.
func threadsSchedstat(pid int) map[int]time.Duration {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var threads map[int]time.Duration
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + task.Name() + "/schedstat")
		if err != nil {
			// A thread that ended since the listing.
			continue
		}
		spent, ok := parseSchedstat(b)
		if !ok {
			continue
		}
		if threads == nil {
			threads = make(map[int]time.Duration, len(tasks))
		}
		threads[tid] = spent
	}
	return threads
}

// parseSchedstat adds the run and wait times of a schedstat line.
func parseSchedstat(b []byte) (time.Duration, bool) {
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0, false
	}
	run, err1 := strconv.ParseUint(string(fields[0]), 10, 64)
	wait, err2 := strconv.ParseUint(string(fields[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(run + wait), true
}
