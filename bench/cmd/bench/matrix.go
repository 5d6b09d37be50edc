package main

import (
	"context"
	"fmt"
	"io"
	"slices"
)

// cells returns the matrix: both workloads in both query modes at every
// client count, then connection setup (-C, select-only, simple) at every
// client count.
func cells(o options) []cell {
	var out []cell
	for _, w := range []string{"select-only", "tpcb-like"} {
		for _, m := range []string{"simple", "prepared"} {
			for _, c := range o.clients {
				out = append(out, cell{workload: w, mode: m, clients: c})
			}
		}
	}
	for _, c := range o.clients {
		out = append(out, cell{workload: "select-only", mode: "simple", clients: c, connect: true})
	}
	return out
}

// row is one path's result in one cell.
type row struct {
	cell
	path string
	// ok is false when there are no numbers; note says why.
	ok        bool
	tps       float64
	latencyMs float64
	// ratio is tps relative to direct TLS in the same cell.
	ratio float64
	// floor names the floor path of a keyway path's topology, and
	// floorRatio is tps relative to it in the same cell.
	floor      string
	floorRatio float64
	// cpuUs is the CPU time the path's own processes spent per
	// transaction, in microseconds (0: not measured, as for direct TLS).
	cpuUs float64
	// auditOnOff, on keyway's row, is its tps relative to
	// keyway-noaudit's in the same cell: what session auditing costs.
	auditOnOff float64
	note       string
}

// runMatrix runs every cell through every usable path. Within a cell the
// paths take turns, runs times, and each round starts one path later, so
// no path always runs first or last; the medians are reported.
func runMatrix(ctx context.Context, o options, paths []readyPath, log io.Writer) ([]row, error) {
	all := cells(o)
	var rows []row
	for i, c := range all {
		samples := make([][]sample, len(paths))
		var errs = make([]error, len(paths))
		for r := range o.runs {
			for k := range paths {
				j := (k + r) % len(paths)
				p := paths[j]
				if !p.usable() || !p.runsIn(c) {
					continue
				}
				s, err := runPgbench(ctx, o.pgbench, p.ep, c, o.duration)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if err != nil {
					errs[j] = err
					fmt.Fprintf(log, "[%d/%d] %s %s: %v\n", i+1, len(all), describe(c), p.name, err)
					continue
				}
				samples[j] = append(samples[j], s)
				fmt.Fprintf(log, "[%d/%d] %s %-12s %10.1f tps %8.3f ms\n", i+1, len(all), describe(c), p.name, s.tps, s.latencyMs)
			}
		}
		rows = append(rows, cellRows(c, paths, samples, errs)...)
	}
	return rows, nil
}

// cellRows turns one cell's samples into rows with medians and ratios,
// one per path that belongs in the cell.
func cellRows(c cell, paths []readyPath, samples [][]sample, errs []error) []row {
	out := make([]row, 0, len(paths))
	var direct float64
	for j, p := range paths {
		if !p.runsIn(c) {
			continue
		}
		r := row{cell: c, path: p.name}
		switch {
		case !p.usable():
			r.note = p.note()
		case len(samples[j]) == 0:
			r.note = "failed: " + shorten(firstLine(errs[j].Error()), 100)
		default:
			r.ok = true
			r.tps = median(samples[j], func(s sample) float64 { return s.tps })
			r.latencyMs = median(samples[j], func(s sample) float64 { return s.latencyMs })
			r.cpuUs = median(samples[j], func(s sample) float64 { return s.cpuUs })
			if p.name == directName {
				direct = r.tps
			}
		}
		out = append(out, r)
	}
	var noAudit float64
	tps := map[string]float64{}
	for _, r := range out {
		if r.ok {
			tps[r.path] = r.tps
		}
		if r.ok && r.path == noAuditName {
			noAudit = r.tps
		}
	}
	for j := range out {
		if out[j].ok && direct > 0 {
			out[j].ratio = out[j].tps / direct
		}
		if f := floorOf(out[j].path); f != "" {
			out[j].floor = f
			if out[j].ok && tps[f] > 0 {
				out[j].floorRatio = out[j].tps / tps[f]
			}
		}
		if out[j].ok && out[j].path == "keyway" && noAudit > 0 {
			out[j].auditOnOff = out[j].tps / noAudit
		}
	}
	return out
}

// median of f over xs; the mean of the middle two for an even count.
func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// describe names a cell in progress lines.
func describe(c cell) string {
	s := fmt.Sprintf("%-11s %-8s c=%-3d", c.workload, c.mode, c.clients)
	if c.connect {
		return s + " -C"
	}
	return s + "   "
}
