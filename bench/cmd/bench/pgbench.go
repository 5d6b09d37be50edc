package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// cell is one configuration of the matrix; every path runs it.
type cell struct {
	// workload is a pgbench built-in script: select-only or tpcb-like.
	workload string
	// mode is pgbench's query mode: simple or prepared.
	mode    string
	clients int
	// connect opens a new connection per transaction (-C).
	connect bool
}

// args are pgbench's arguments for the cell; the endpoint comes from the
// environment. -n skips pgbench's vacuum, which would run per path.
func (c cell) args(d time.Duration) []string {
	a := []string{"-n", "-b", c.workload, "-M", c.mode,
		"-c", strconv.Itoa(c.clients), "-j", strconv.Itoa(min(c.clients, 2)),
		"-T", strconv.Itoa(int(d / time.Second))}
	if c.connect {
		a = append(a, "-C")
	}
	return a
}

// sample is one pgbench run's result.
type sample struct {
	tps       float64
	latencyMs float64
	// transactions is how many pgbench completed; cpuUs is the CPU time
	// the path's processes spent per transaction, in microseconds, 0
	// when the path names none.
	transactions float64
	cpuUs        float64
}

// runPgbench runs pgbench for one cell through ep.
func runPgbench(ctx context.Context, bin string, ep endpoint, c cell, d time.Duration) (sample, error) {
	cmd := exec.CommandContext(ctx, bin, c.args(d)...)
	cmd.Env = ep.libpqEnv()
	before, err := treeTicks(ep.servers)
	if err != nil {
		return sample{}, fmt.Errorf("the path's processes: %w", err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return sample{}, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	after, err := treeTicks(ep.servers)
	if err != nil {
		return sample{}, fmt.Errorf("the path's processes: %w", err)
	}
	s, err := parsePgbench(string(out))
	if err != nil {
		return sample{}, fmt.Errorf("%w\n%s", err, out)
	}
	if len(ep.servers) > 0 {
		s.cpuUs = float64(after-before) * (1e6 / userHZ) / s.transactions
	}
	return s, nil
}

var (
	tpsLine       = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	latencyLine   = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	processedLine = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
	failedLine    = regexp.MustCompile(`(?m)^number of failed transactions: ([0-9]+)`)
)

// parsePgbench reads tps and average latency from pgbench's report, and
// refuses a run in which a transaction failed or none was processed.
func parsePgbench(out string) (sample, error) {
	num := func(re *regexp.Regexp, what string) (float64, error) {
		m := re.FindStringSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("pgbench printed no %s", what)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, fmt.Errorf("pgbench's %s %q: %w", what, m[1], err)
		}
		return v, nil
	}
	processed, err := num(processedLine, "transaction count")
	if err != nil {
		return sample{}, err
	}
	if processed == 0 {
		return sample{}, fmt.Errorf("pgbench processed no transaction")
	}
	if m := failedLine.FindStringSubmatch(out); m != nil && m[1] != "0" {
		return sample{}, fmt.Errorf("pgbench: %s transactions failed", m[1])
	}
	tps, err := num(tpsLine, "tps")
	if err != nil {
		return sample{}, err
	}
	lat, err := num(latencyLine, "average latency")
	if err != nil {
		return sample{}, err
	}
	return sample{tps: tps, latencyMs: lat, transactions: processed}, nil
}
