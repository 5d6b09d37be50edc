package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// rssKiB returns a process's resident set size (VmRSS) in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading RSS: %w", err)
	}
	return parseVmRSS(b)
}

// parseVmRSS reads the "VmRSS:   1234 kB" line of /proc/PID/status.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", bytes.TrimSpace(line))
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no VmRSS line in /proc/PID/status")
}

// totalRSSKiB sums the RSS of pids.
func totalRSSKiB(pids ...int) (int64, error) {
	var sum int64
	for _, pid := range pids {
		n, err := rssKiB(pid)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// statFields returns the fields of /proc/PID/stat from the third
// (state) on, at least n of them: the second, the command name, may
// itself hold spaces and parentheses.
func statFields(stat []byte, n int) ([]string, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc/PID/stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < n {
		return nil, fmt.Errorf("malformed /proc/PID/stat: %d fields after the name", len(f))
	}
	return f, nil
}

// parentOf reads the parent pid from /proc/PID/stat.
func parentOf(stat []byte) (int, error) {
	f, err := statFields(stat, 2)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[1])
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process exited meanwhile
		}
		ppid, err := parentOf(b)
		if err != nil || ppid != pid {
			continue
		}
		child, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err == nil {
			out = append(out, child)
		}
	}
	return out, nil
}

// pluginChild finds the child of keyway serving the built-in plugin
// name: its command line is "keyway serve-plugin NAME".
func pluginChild(keyway int, name string) (int, error) {
	kids, err := childrenOf(keyway)
	if err != nil {
		return 0, err
	}
	for _, pid := range kids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) >= 3 && args[1] == "serve-plugin" && args[2] == name {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("keyway (pid %d) has no child serving plugin %q", keyway, name)
}
