package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
)

// printTable writes the matrix, one row per path and cell.
func printTable(w io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tmode\tclients\tconnect\tpath\ttps\tlatency_ms\tratio\tfloor_ratio\tcpu_us\t")
	for _, r := range rows {
		connect := "no"
		if r.connect {
			connect = "yes"
		}
		// A row without numbers says why after the last column, which
		// the alignment ignores.
		tps, lat, ratio, floorRatio, cpu, note := "-", "-", "-", "-", "-", "  "+r.note
		if r.ok {
			tps, lat, ratio, note = fmt.Sprintf("%.1f", r.tps), fmt.Sprintf("%.3f", r.latencyMs), "n/a", ""
			if r.ratio > 0 {
				ratio = fmt.Sprintf("%.2f", r.ratio)
			}
			if r.floorRatio > 0 {
				floorRatio = fmt.Sprintf("%.2f (%s)", r.floorRatio, r.floor)
			}
			if r.cpuUs > 0 {
				cpu = fmt.Sprintf("%.0f", r.cpuUs)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.workload, r.mode, r.clients, connect, r.path, tps, lat, ratio, floorRatio, cpu, note)
	}
	return tw.Flush()
}

// printAuditCost writes keyway's throughput with session auditing on
// against keyway-noaudit's, cell by cell: the cost of auditing.
func printAuditCost(w io.Writer, rows []row) error {
	noAudit := map[cell]row{}
	for _, r := range rows {
		if r.path == noAuditName && r.ok {
			noAudit[r.cell] = r
		}
	}
	var lines []string
	for _, r := range rows {
		if r.path != "keyway" || r.auditOnOff == 0 {
			continue
		}
		connect := "no"
		if r.connect {
			connect = "yes"
		}
		lines = append(lines, fmt.Sprintf("%s\t%s\t%d\t%s\t%.1f\t%.1f\t%.3f\t%.0f\t%.0f\t", r.workload, r.mode, r.clients, connect, r.tps, noAudit[r.cell].tps, r.auditOnOff, r.cpuUs, noAudit[r.cell].cpuUs))
	}
	if len(lines) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nSession auditing's cost: keyway (audit on) against %s (db_events = \"none\") in the same cells\n\n", noAuditName)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tmode\tclients\tconnect\ttps_audit_on\ttps_audit_off\ton/off\tcpu_us_on\tcpu_us_off\t")
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	return tw.Flush()
}

// jsonRow is a row of bench/results/latest.json; numbers are null when
// the path has none, and note says why. AuditOnOff is on keyway's rows
// where keyway-noaudit ran too.
type jsonRow struct {
	Workload  string   `json:"workload"`
	Mode      string   `json:"mode"`
	Clients   int      `json:"clients"`
	Connect   bool     `json:"connect"`
	Path      string   `json:"path"`
	TPS       *float64 `json:"tps"`
	LatencyMs *float64 `json:"latency_ms"`
	Ratio     *float64 `json:"ratio"`
	// Floor names the floor of a keyway path's topology; FloorRatio is
	// the path's tps over the floor's in the cell.
	Floor      string   `json:"floor,omitempty"`
	FloorRatio *float64 `json:"floor_ratio,omitempty"`
	// AuditOnOff is keyway's tps over keyway-noaudit's in the cell.
	AuditOnOff *float64 `json:"audit_on_off,omitempty"`
	// CPUUs is the CPU time, in microseconds, the path's own processes
	// spent per transaction.
	CPUUs *float64 `json:"cpu_us,omitempty"`
	Note  string   `json:"note,omitempty"`
}

func toJSON(rows []row) []jsonRow {
	out := make([]jsonRow, len(rows))
	for i, r := range rows {
		j := jsonRow{Workload: r.workload, Mode: r.mode, Clients: r.clients, Connect: r.connect, Path: r.path, Floor: r.floor, Note: r.note}
		if r.ok {
			j.TPS, j.LatencyMs = ptr(round(r.tps, 1)), ptr(round(r.latencyMs, 3))
			if r.ratio > 0 {
				j.Ratio = ptr(round(r.ratio, 3))
			}
			if r.floorRatio > 0 {
				j.FloorRatio = ptr(round(r.floorRatio, 3))
			}
			if r.auditOnOff > 0 {
				j.AuditOnOff = ptr(round(r.auditOnOff, 3))
			}
			if r.cpuUs > 0 {
				j.CPUUs = ptr(round(r.cpuUs, 1))
			}
		}
		out[i] = j
	}
	return out
}

// writeJSON writes v indented to path, creating its directory.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// memoryReport is bench/results/memory.json.
type memoryReport struct {
	Idle   []idleResult   `json:"idle,omitempty"`
	Stream []streamResult `json:"stream,omitempty"`
	// Errors say which measurement failed, and why.
	Errors []string `json:"errors,omitempty"`
}

// printMemory writes the idle-session and streaming measurements.
func printMemory(w io.Writer, m memoryReport) {
	for _, r := range m.Idle {
		fmt.Fprintf(w, "\nIdle sessions through %s: %d (opened in %.1f s)\n", r.Path, r.Sessions, r.OpenSeconds)
		for _, p := range r.Processes {
			fmt.Fprintf(w, "  %-12s RSS %s -> %s, %.1f KiB per session\n", p.Name, mib(p.BeforeKiB), mib(p.AfterKiB), p.perSessionKiB(r.Sessions))
		}
		fmt.Fprintf(w, "  %-12s %.1f KiB per idle session\n", "total", r.totalKiB())
	}
	if len(m.Stream) > 0 {
		fmt.Fprintf(w, "\nStreaming one large result (select repeat('x', %d) from generate_series):\n", rowBytes)
		var direct float64
		for _, s := range m.Stream {
			if s.Path == directName {
				direct = s.mbPerSecond()
			}
		}
		for _, s := range m.Stream {
			fmt.Fprintf(w, "  %-12s %s in %.2f s, %.0f MB/s", s.Path, mbString(s.Bytes), s.Seconds, s.mbPerSecond())
			var notes []string
			if len(s.Rounds) > 1 {
				notes = append(notes, fmt.Sprintf("median of %d rounds", len(s.Rounds)))
			}
			if direct > 0 && s.Path != directName {
				notes = append(notes, fmt.Sprintf("%.2f of direct", s.mbPerSecond()/direct))
			}
			if len(notes) > 0 {
				fmt.Fprintf(w, " (%s)", strings.Join(notes, "; "))
			}
			if s.PeakKiB > 0 {
				fmt.Fprintf(w, ", keyway+plugin RSS %s before, peak %s", mib(s.BaseKiB), mib(s.PeakKiB))
			}
			fmt.Fprintln(w)
		}
	}
	for _, e := range m.Errors {
		fmt.Fprintf(w, "\nmemory measurement failed: %s\n", e)
	}
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func mbString(b int64) string { return strconv.FormatInt(b/1_000_000, 10) + " MB" }

func ptr[T any](v T) *T { return &v }

// round keeps digits decimals.
func round(v float64, digits int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return f
}

// firstLine is the first line of s, for one-line notes.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// shorten cuts s to at most n bytes, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
