package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options say what one benchmark run measures and how long it takes.
type options struct {
	// quick shortens everything, for development (BENCH_QUICK=1).
	quick bool
	// keyway is the binary to benchmark; empty builds bin/keyway.
	keyway string
	// pgbench and pgbouncer are the programs used.
	pgbench, pgbouncer string
	// duration is pgbench's -T for each run.
	duration time.Duration
	// runs is how often each path runs in each cell; medians are reported.
	runs int
	// scale is pgbench's scale factor (-s) for the tables.
	scale int
	// clients are the client counts (-c) of the matrix.
	clients []int
	// paths, when set, are the only paths run besides direct TLS (and
	// keyway, which the other keyway paths need).
	paths []string
	// sessions is the number of idle sessions for the RSS measurement.
	sessions int
	// streamBytes is the size of the result streamed through each path.
	streamBytes int64
	// out is where the JSON results go.
	out string
}

// defaults returns the options of a full or a quick run.
func defaults(quick bool) options {
	o := options{
		quick: quick, pgbench: "/usr/bin/pgbench", pgbouncer: "/usr/sbin/pgbouncer",
		duration: 10 * time.Second, runs: 3, scale: 10, clients: []int{1, 8, 32},
		sessions: 1000, streamBytes: 1_000_000_000, out: "bench/results/latest.json",
	}
	if quick {
		// 2 s rather than 3 s keeps the whole quick run under three
		// minutes on two cores with three paths.
		o.duration, o.runs, o.scale, o.sessions, o.streamBytes = 2*time.Second, 1, 1, 200, 100_000_000
	}
	return o
}

// parseOptions reads the flags; BENCH_QUICK (from getenv) picks the quick
// defaults, and flags given explicitly override either set.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	quick := isTrue(getenv("BENCH_QUICK"))
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&quick, "quick", quick, "short run for development (also BENCH_QUICK=1)")
	var (
		keyway, pgbench, pgbouncer, out, clients, paths string
		duration                                        time.Duration
		runs, scale, sessions, streamMB                 int
	)
	fs.StringVar(&keyway, "keyway", "", "keyway binary to benchmark (default: build bin/keyway)")
	fs.StringVar(&pgbench, "pgbench", "", "pgbench binary (default /usr/bin/pgbench)")
	fs.StringVar(&pgbouncer, "pgbouncer", "", "pgbouncer binary (default /usr/sbin/pgbouncer)")
	fs.StringVar(&out, "out", "", "JSON results file (default bench/results/latest.json)")
	fs.StringVar(&clients, "clients", "", "comma-separated client counts (default 1,8,32)")
	fs.StringVar(&paths, "paths", "", "comma-separated paths to run besides direct-tls, for a focused comparison (default: all)")
	fs.DurationVar(&duration, "T", 0, "duration of each pgbench run, whole seconds (default 10s, quick 2s)")
	fs.IntVar(&runs, "runs", 0, "runs of each path per cell; the median is reported (default 3, quick 1)")
	fs.IntVar(&scale, "scale", 0, "pgbench scale factor (default 10, quick 1)")
	fs.IntVar(&sessions, "sessions", 0, "idle sessions for the memory measurement (default 1000, quick 200)")
	fs.IntVar(&streamMB, "stream-mb", 0, "megabytes (10^6 bytes) of result to stream (default 1000, quick 100)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	o := defaults(quick)
	o.keyway = keyway
	setIf(&o.pgbench, pgbench, pgbench != "")
	setIf(&o.pgbouncer, pgbouncer, pgbouncer != "")
	setIf(&o.out, out, out != "")
	setIf(&o.duration, duration, duration != 0)
	setIf(&o.runs, runs, runs != 0)
	setIf(&o.scale, scale, scale != 0)
	setIf(&o.sessions, sessions, sessions != 0)
	setIf(&o.streamBytes, int64(streamMB)*1_000_000, streamMB != 0)
	if clients != "" {
		cs, err := parseInts(clients)
		if err != nil {
			return options{}, fmt.Errorf("-clients: %w", err)
		}
		o.clients = cs
	}
	if paths != "" {
		o.paths = strings.Split(paths, ",")
	}
	return o, o.validate()
}

func (o options) validate() error {
	switch {
	case o.duration < time.Second || o.duration%time.Second != 0:
		return fmt.Errorf("-T %s: pgbench takes whole seconds, at least 1s", o.duration)
	case o.runs < 1:
		return fmt.Errorf("-runs %d: at least 1", o.runs)
	case o.scale < 1:
		return fmt.Errorf("-scale %d: at least 1", o.scale)
	case o.sessions < 1:
		return fmt.Errorf("-sessions %d: at least 1", o.sessions)
	case o.streamBytes < rowBytes:
		return fmt.Errorf("-stream-mb: at least one row of %d bytes", rowBytes)
	case len(o.clients) == 0:
		return fmt.Errorf("-clients: at least one client count")
	}
	for _, name := range o.paths {
		if !slices.ContainsFunc(allPaths(), func(p path) bool { return p.name == name }) {
			return fmt.Errorf("-paths: no path is named %q", name)
		}
	}
	return nil
}

// maxClients is the largest client count of the matrix.
func (o options) maxClients() int {
	n := 0
	for _, c := range o.clients {
		n = max(n, c)
	}
	return n
}

func setIf[T any](dst *T, v T, ok bool) {
	if ok {
		*dst = v
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func isTrue(s string) bool {
	b, err := strconv.ParseBool(s)
	return err == nil && b
}
