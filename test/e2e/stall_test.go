package e2e

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// TestClientThatStopsReadingIsClosed reads the first row of a 1 GB
// result and then nothing: the postgres plugin's memory stays flat while
// the database waits to send the rest, and the session ends after the
// plugin's client_write_timeout, with the reason in its end event and
// the database's backend gone.
func TestClientThatStopsReadingIsClosed(t *testing.T) {
	const timeout = 2 * time.Second
	a := startAllInOneWith(t, allInOneOptions{extra: `
plugin "postgres" {
  config {
    client_write_timeout = "2s"
  }
}
`})
	prefix := a.userFiles(t, "slow", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	conn, err := a.pgxConnect(t, prefix, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	pid := a.node.plugin("postgres").PID
	before := rssKiB(t, pid)
	rows, err := conn.Query(context.Background(), "select repeat('x', 1000) from generate_series(1, 1000000)")
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("no first row: %v", rows.Err())
	}
	stopped := time.Now()
	// The client reads nothing more; keyway's buffers must not take up
	// what the database keeps sending.
	var end *audit.Event
	peak := before
	for end == nil {
		if time.Since(stopped) > 30*time.Second {
			t.Fatalf("the session of a client that stopped reading was not ended within 30s")
		}
		peak = max(peak, rssKiB(t, pid))
		for _, e := range auditEvents(t, a.cfg, "--user=slow", "--type="+audit.SessionEnd) {
			if strings.Contains(e.Error, "client_write_timeout") {
				end = &e
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ended := time.Since(stopped); ended < timeout*3/4 {
		t.Fatalf("the session ended %s after the client stopped reading, before the %s timeout", ended, timeout)
	}
	if grew := peak - before; grew > 32<<10 {
		t.Fatalf("the plugin's RSS grew by %d KiB while the client read nothing", grew)
	}
	t.Logf("ended %s after the client stopped reading; plugin RSS %d KiB before, %d KiB at most; %q",
		time.Since(stopped).Round(100*time.Millisecond), before, peak, end.Error)
	// keyway closed its server connection, so the backend stops too.
	deadline := time.Now().Add(10 * time.Second)
	for a.pg.SQL(t, "select count(*) from pg_stat_activity where query like 'select repeat%'") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the database still runs the query of the closed session")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rssKiB reads a process's resident set size.
func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS of %d: %q", pid, v)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS for process %d", pid)
	return 0
}
