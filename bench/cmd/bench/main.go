// Command bench measures what keyway costs on the way to PostgreSQL.
//
// In one run it starts PostgreSQL with TLS and certificate
// authentication, then every path of allPaths (direct TLS, pgbouncer,
// keyway all-in-one, keyway with a separate agent when the build has
// one, keyway all-in-one with session auditing off), measures keyway's memory per idle session and while streaming a
// large result, and runs a pgbench matrix with the paths interleaved. It
// prints a table and writes bench/results/latest.json and memory.json.
// See bench/README.md; BENCH_QUICK=1 (or -quick) makes a short run.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == relayCommand {
		if err := runRelay(os.Args[2:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "bench relay:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run is the whole benchmark: progress goes to log, the report to out.
func run(ctx context.Context, args []string, out, log io.Writer) error {
	start := time.Now()
	log = stamped{w: log, start: start}
	o, err := parseOptions(args, os.Getenv, log)
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	bin, err := keywayBinary(ctx, o.keyway, root)
	if err != nil {
		return err
	}
	e, err := newEnv(ctx, o, bin, log)
	if e != nil {
		defer e.close()
	}
	if err != nil {
		return err
	}
	paths, err := startPaths(ctx, e, selectPaths(allPaths(), o.paths))
	if err != nil {
		return err
	}
	mem := measureMemory(ctx, e, endpointOf(paths, directName), endpointOf(paths, floor1Name))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rows, err := runMatrix(ctx, o, paths, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nkeyway benchmark: pgbench -T %s, median of %d run(s) per path, scale %d, %s\n\n",
		o.duration, o.runs, o.scale, modeName(o.quick))
	if err := printTable(out, rows); err != nil {
		return err
	}
	if err := printAuditCost(out, rows); err != nil {
		return err
	}
	printMemory(out, mem)
	results := resolve(root, o.out)
	if err := writeJSON(results, toJSON(rows)); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(filepath.Dir(results), "memory.json"), mem); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nwrote %s and memory.json beside it; total time %s\n", results, time.Since(start).Round(time.Second))
	return nil
}

func modeName(quick bool) string {
	if quick {
		return "quick mode"
	}
	return "full mode"
}

// resolve makes a relative path relative to the module root.
func resolve(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

// moduleRoot finds the keyway module's directory from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/keyway-dev/keyway\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run the benchmark inside the keyway repository (no keyway go.mod above the working directory)")
		}
		dir = parent
	}
}

// stamped prefixes each progress write with the time since the start.
type stamped struct {
	w     io.Writer
	start time.Time
}

func (s stamped) Write(p []byte) (int, error) {
	d := time.Since(s.start).Truncate(time.Second)
	if _, err := fmt.Fprintf(s.w, "%02d:%02d ", int(d.Minutes()), int(d.Seconds())%60); err != nil {
		return 0, err
	}
	return s.w.Write(p)
}
