package main

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// pgbench15Output is what PostgreSQL 15's pgbench prints for -C.
const pgbench15Output = `pgbench (15.14 (Debian 15.14-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: simple
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 326
number of failed transactions: 0 (0.000%)
latency average = 49.394 ms
average connection time = 6.160 ms
tps = 162.0 (including reconnection times)
`

func TestParsePgbench(t *testing.T) {
	s, err := parsePgbench(pgbench15Output)
	if err != nil {
		t.Fatal(err)
	}
	if s.tps != 162.0 || s.latencyMs != 49.394 || s.transactions != 326 {
		t.Fatalf("parsed %+v", s)
	}
}

func TestParsePgbenchRefusesBadRuns(t *testing.T) {
	tests := map[string]string{
		"failed transactions": strings.Replace(pgbench15Output, "failed transactions: 0", "failed transactions: 3", 1),
		"nothing processed":   strings.Replace(pgbench15Output, "processed: 326", "processed: 0", 1),
		"no tps":              strings.Replace(pgbench15Output, "tps = ", "xps = ", 1),
		"no latency":          strings.Replace(pgbench15Output, "latency average", "latency", 1),
		"empty":               "",
	}
	for name, out := range tests {
		if s, err := parsePgbench(out); err == nil {
			t.Errorf("%s: parsed %+v, want an error", name, s)
		}
	}
}

func TestCellArgs(t *testing.T) {
	got := strings.Join(cell{workload: "select-only", mode: "prepared", clients: 32, connect: true}.args(10*time.Second), " ")
	want := "-n -b select-only -M prepared -c 32 -j 2 -T 10 -C"
	if got != want {
		t.Fatalf("args %q, want %q", got, want)
	}
	if got := strings.Join(cell{workload: "tpcb-like", mode: "simple", clients: 1}.args(3*time.Second), " "); !strings.Contains(got, "-c 1 -j 1 -T 3") || strings.Contains(got, "-C") {
		t.Fatalf("args %q", got)
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tkeyway\nVmPeak:\t  900 kB\nVmRSS:\t   38940 kB\nRssAnon:\t 1 kB\n"
	n, err := parseVmRSS([]byte(status))
	if err != nil || n != 38940 {
		t.Fatalf("parseVmRSS = %d, %v", n, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Fatal("a status without VmRSS parsed")
	}
}

func TestParentOf(t *testing.T) {
	// The command name may hold spaces and parentheses.
	ppid, err := parentOf([]byte("4242 (a) b (c)) S 17 4242 4242 0 -1"))
	if err != nil || ppid != 17 {
		t.Fatalf("parentOf = %d, %v", ppid, err)
	}
	if _, err := parentOf([]byte("4242 no parenthesis")); err == nil {
		t.Fatal("malformed stat parsed")
	}
}

func TestParseCPUTicks(t *testing.T) {
	// utime 1500 and stime 250 are the 14th and 15th fields.
	stat := "4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 900 0 0 0 1500 250 3 4 20 0 9 0"
	tests := []struct {
		name string
		in   string
		want int64
		ok   bool
	}{
		{"a name with spaces and parentheses", stat, 1750, true},
		{"too few fields", "4242 (a) S 17 4242", 0, false},
		{"no parenthesis", "4242 a S 17", 0, false},
		{"not a number", strings.Replace(stat, "1500", "x", 1), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUTicks([]byte(tt.in))
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("parseCPUTicks = %d, %v", got, err)
			}
		})
	}
}

func TestTreeTicksCountsThisProcess(t *testing.T) {
	n, err := treeTicks([]int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	// Burn 30 ms of CPU; the count must grow by at least one tick.
	for start := time.Now(); time.Since(start) < 30*time.Millisecond; {
	}
	m, err := treeTicks([]int{os.Getpid()})
	if err != nil || m <= n {
		t.Fatalf("ticks %d then %d, %v", n, m, err)
	}
}

func TestMedian(t *testing.T) {
	id := func(v float64) float64 { return v }
	if m := median([]float64{3, 1, 2}, id); m != 2 {
		t.Fatalf("odd median %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}, id); m != 2.5 {
		t.Fatalf("even median %v", m)
	}
}

func TestCellRowsRatiosAndNotes(t *testing.T) {
	paths := []readyPath{
		{name: directName}, {name: "pgbouncer"}, {name: "keyway"},
		{name: "keyway-agent", err: errUnavailable},
	}
	samples := [][]sample{
		{{tps: 100, latencyMs: 1}, {tps: 300, latencyMs: 3}, {tps: 200, latencyMs: 2}},
		nil,
		{{tps: 50, latencyMs: 4}},
		nil,
	}
	errs := []error{nil, errors.New("pgbench: exit status 2\nmore"), nil, nil}
	rows := cellRows(cell{workload: "tpcb-like", mode: "simple", clients: 8}, paths, samples, errs)
	if r := rows[0]; !r.ok || r.tps != 200 || r.latencyMs != 2 || r.ratio != 1 {
		t.Fatalf("direct row %+v", r)
	}
	if r := rows[1]; r.ok || r.note != "failed: pgbench: exit status 2" {
		t.Fatalf("failed row %+v", r)
	}
	if r := rows[2]; !r.ok || r.ratio != 0.25 {
		t.Fatalf("keyway row %+v", r)
	}
	if r := rows[3]; r.ok || r.note != "n/a (not available in this build)" {
		t.Fatalf("unavailable row %+v", r)
	}
	js := toJSON(rows)
	if js[3].TPS != nil || js[3].Ratio != nil || *js[2].Ratio != 0.25 {
		t.Fatalf("json rows %+v", js)
	}
}

func TestCellsCoverTheMatrix(t *testing.T) {
	o := defaults(false)
	cs := cells(o)
	if len(cs) != 2*2*3+3 {
		t.Fatalf("%d cells", len(cs))
	}
	connects := 0
	for _, c := range cs {
		if c.connect {
			connects++
		}
	}
	if connects != 3 {
		t.Fatalf("%d -C cells", connects)
	}
}

func TestParseOptions(t *testing.T) {
	env := func(quick string) func(string) string {
		return func(k string) string {
			if k == "BENCH_QUICK" {
				return quick
			}
			return ""
		}
	}
	o, err := parseOptions(nil, env("1"), nil)
	if err != nil || !o.quick || o.runs != 1 || o.sessions != 200 || o.streamBytes != 100_000_000 {
		t.Fatalf("quick defaults %+v, %v", o, err)
	}
	o, err = parseOptions([]string{"-T", "5s", "-runs", "5", "-clients", "2,4"}, env(""), nil)
	if err != nil || o.quick || o.duration != 5*time.Second || o.runs != 5 || o.maxClients() != 4 || o.sessions != 1000 {
		t.Fatalf("flags %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-T", "1500ms"}, {"-clients", "0"}, {"-runs", "-1"}, {"extra"}} {
		if _, err := parseOptions(bad, env(""), &strings.Builder{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestAuditOnOffRatio(t *testing.T) {
	paths := []readyPath{{name: directName}, {name: "keyway"}, {name: noAuditName, only: noAuditCells}}
	samples := [][]sample{{{tps: 1000}}, {{tps: 480}}, {{tps: 500}}}
	errs := make([]error, 3)
	sel := cell{workload: "select-only", mode: "simple", clients: 8}
	rows := cellRows(sel, paths, samples, errs)
	if len(rows) != 3 {
		t.Fatalf("%d rows in a select-only cell", len(rows))
	}
	if r := rows[1]; r.path != "keyway" || r.auditOnOff != 0.96 || r.ratio != 0.48 {
		t.Fatalf("keyway row %+v", r)
	}
	if r := rows[2]; r.auditOnOff != 0 || r.ratio != 0.5 {
		t.Fatalf("noaudit row %+v", r)
	}
	tpcb := cellRows(cell{workload: "tpcb-like", mode: "simple", clients: 8}, paths, samples, errs)
	if len(tpcb) != 2 || tpcb[1].auditOnOff != 0 {
		t.Fatalf("tpcb rows %+v", tpcb)
	}
	var b strings.Builder
	if err := printAuditCost(&b, append(rows, tpcb...)); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "480.0") || !strings.Contains(out, "500.0") || !strings.Contains(out, "0.960") || strings.Contains(out, "tpcb") {
		t.Fatalf("audit cost table:\n%s", out)
	}
	if js := toJSON(rows); js[1].AuditOnOff == nil || *js[1].AuditOnOff != 0.96 || js[2].AuditOnOff != nil {
		t.Fatalf("json %+v", js)
	}
}

func TestFloorRatios(t *testing.T) {
	paths := []readyPath{
		{name: directName}, {name: floor1Name}, {name: floor2Name},
		{name: "keyway"}, {name: "keyway-agent"}, {name: "pgbouncer"},
	}
	samples := [][]sample{{{tps: 1000}}, {{tps: 600}}, {{tps: 400}}, {{tps: 300}}, {{tps: 200}}, {{tps: 500}}}
	rows := cellRows(cell{workload: "select-only", mode: "simple", clients: 8}, paths, samples, make([]error, len(paths)))
	tests := []struct {
		path  string
		floor string
		ratio float64
	}{
		{directName, "", 0}, {floor1Name, "", 0}, {floor2Name, "", 0},
		{"keyway", floor1Name, 0.5}, {"keyway-agent", floor2Name, 0.5}, {"pgbouncer", "", 0},
	}
	for i, tt := range tests {
		if r := rows[i]; r.path != tt.path || r.floor != tt.floor || r.floorRatio != tt.ratio {
			t.Errorf("row %d: %+v, want floor %q ratio %v", i, r, tt.floor, tt.ratio)
		}
	}
	var b strings.Builder
	if err := printTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "floor_ratio") || !strings.Contains(out, "0.50 (floor-2hop)") {
		t.Fatalf("table:\n%s", out)
	}
	js := toJSON(rows)
	if js[3].Floor != floor1Name || js[3].FloorRatio == nil || *js[3].FloorRatio != 0.5 || js[0].FloorRatio != nil {
		t.Fatalf("json %+v", js)
	}
}

func TestPoolConfigHasAPoolBlock(t *testing.T) {
	if !strings.Contains(poolConfig, `mode         = "session"`) || strings.Count(poolConfig, "%q") != 3 {
		t.Fatalf("pool configuration:\n%s", poolConfig)
	}
	if !poolCells(cell{connect: true}) || poolCells(cell{}) {
		t.Fatal("keyway-pool belongs in the -C cells only")
	}
}

func TestSelectPaths(t *testing.T) {
	names := func(ps []path) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.name)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		asked []string
		want  string
	}{
		{nil, names(allPaths())},
		{[]string{"pgbouncer"}, "direct-tls,pgbouncer"},
		{[]string{"keyway-noaudit"}, "direct-tls,keyway,keyway-noaudit"},
		{[]string{"keyway-agent", "floor-2hop"}, "direct-tls,floor-2hop,keyway,keyway-agent"},
	}
	for _, tt := range tests {
		if got := names(selectPaths(allPaths(), tt.asked)); got != tt.want {
			t.Errorf("selectPaths(%v) = %s, want %s", tt.asked, got, tt.want)
		}
	}
	if _, err := parseOptions([]string{"-paths", "keyway,nope"}, func(string) string { return "" }, new(strings.Builder)); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("an unknown path: %v", err)
	}
}
