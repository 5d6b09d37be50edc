package main

import (
	"fmt"
	"os"
	"strconv"
)

// userHZ is the unit of /proc/PID/stat's CPU times: Linux reports them
// in ticks of 1/100 s whatever the kernel's own tick.
const userHZ = 100

// cpuTicks reads a process's CPU time, user and system, in ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading CPU time: %w", err)
	}
	return parseCPUTicks(b)
}

// parseCPUTicks reads utime and stime, the 14th and 15th fields of
// /proc/PID/stat.
func parseCPUTicks(stat []byte) (int64, error) {
	f, err := statFields(stat, 13)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc/PID/stat: %w", err)
		}
		sum += n
	}
	return sum, nil
}

// treeTicks sums the CPU time of pids and of every process below them
// (keyway's plugins), in ticks.
func treeTicks(pids []int) (int64, error) {
	var sum int64
	for len(pids) > 0 {
		pid := pids[0]
		pids = pids[1:]
		n, err := cpuTicks(pid)
		if err != nil {
			return 0, err
		}
		sum += n
		kids, err := childrenOf(pid)
		if err != nil {
			return 0, err
		}
		pids = append(pids, kids...)
	}
	return sum, nil
}
