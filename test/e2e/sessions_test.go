package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// heldSession is what one session of TestManyConcurrentSessions did.
type heldSession struct {
	queries int
	// last is when its last query completed; maxGap the longest time
	// between two completions, counted from the start of the hold.
	last   time.Time
	maxGap time.Duration
	err    error
}

// TestManyConcurrentSessions holds 500 sessions open through the
// all-in-one keyway for 60 s, each running a query about every 100 ms,
// and wants no error at all and every session busy throughout.
func TestManyConcurrentSessions(t *testing.T) {
	const (
		sessions = 500
		hold     = 60 * time.Second
		every    = 100 * time.Millisecond
		// connecting is how many sessions connect at once.
		connecting = 16
		// Generous, for a shared 2-core machine: a query may be slow,
		// but it must not fail.
		queryTimeout = 30 * time.Second
		appName      = "keyway-many"
	)
	// Each session holds one descriptor in this process, about two in
	// the keyway process (client connection, socket pair) and two in its
	// plugin (socket pair, PostgreSQL connection).
	needOpenFiles(t, "the test", os.Getpid(), 2*sessions)
	a := startAllInOneWith(t, allInOneOptions{pgSettings: map[string]string{"max_connections": strconv.Itoa(sessions + 100)}})
	needOpenFiles(t, "keyway", a.node.cmd.Process.Pid, 3*sessions)
	needOpenFiles(t, "the postgres plugin", a.node.plugin("postgres").PID, 3*sessions)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	connString := a.connString(alice, "postgres", "postgres") + " application_name=" + appName

	conns := make([]*pgx.Conn, sessions)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close(context.Background())
			}
		}
	}()
	began := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, sessions)
	slots := make(chan struct{}, connecting)
	for i := range conns {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
			defer cancel()
			conns[i], errs[i] = pgx.Connect(ctx, connString)
		})
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		t.Fatalf("connecting %d sessions: %v", sessions, err)
	}
	t.Logf("%d sessions connected in %s", sessions, time.Since(began).Round(time.Millisecond))
	open := func() int {
		n, err := strconv.Atoi(a.pg.SQL(t, "select count(*) from pg_stat_activity where application_name = '"+appName+"'"))
		if err != nil {
			t.Fatalf("counting sessions: %v", err)
		}
		return n
	}
	if n := open(); n != sessions {
		t.Fatalf("PostgreSQL has %d sessions of the test, want %d", n, sessions)
	}

	start := time.Now()
	end := start.Add(hold)
	results := make([]heldSession, sessions)
	for i, conn := range conns {
		wg.Go(func() {
			results[i] = runHeld(conn, i, start, end, time.Duration(i)*every/sessions, every, queryTimeout)
		})
	}
	// Halfway, every session is still open at once.
	midway := time.NewTimer(hold / 2)
	<-midway.C
	if n := open(); n != sessions {
		t.Errorf("halfway through the hold PostgreSQL has %d sessions of the test, want %d", n, sessions)
	}
	wg.Wait()

	var total int
	var failed []string
	minQueries := int(hold/every) / 4
	for i, r := range results {
		total += r.queries
		switch {
		case r.err != nil:
			failed = append(failed, fmt.Sprintf("session %d: %v", i, r.err))
		case r.queries < minQueries:
			failed = append(failed, fmt.Sprintf("session %d ran %d queries, want at least %d", i, r.queries, minQueries))
		case r.last.Before(end.Add(-3 * time.Second)):
			failed = append(failed, fmt.Sprintf("session %d ran its last query %s before the end", i, end.Sub(r.last).Round(time.Millisecond)))
		case r.maxGap > 10*time.Second:
			failed = append(failed, fmt.Sprintf("session %d went %s without a query", i, r.maxGap.Round(time.Millisecond)))
		}
	}
	gaps := make([]time.Duration, sessions)
	for i, r := range results {
		gaps[i] = r.maxGap
	}
	t.Logf("%d queries in %s over %d sessions (%.0f/s); longest gap in a session %s",
		total, hold, sessions, float64(total)/hold.Seconds(), slices.Max(gaps).Round(time.Millisecond))
	if len(failed) > 0 {
		t.Fatalf("%d of %d sessions failed:\n%s", len(failed), sessions, strings.Join(first(failed, 20), "\n"))
	}
}

// runHeld runs a query on conn every period from start+offset until end,
// each returning a value unique to the session and the query, and stops
// at the first error.
func runHeld(conn *pgx.Conn, session int, start, end time.Time, offset, period, timeout time.Duration) heldSession {
	var r heldSession
	done := start
	wait := time.NewTimer(time.Until(start.Add(offset)))
	<-wait.C
	tick := time.NewTicker(period)
	defer tick.Stop()
	for n := 0; time.Now().Before(end); n++ {
		want := int64(session)<<32 | int64(n)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		var got int64
		err := conn.QueryRow(ctx, "select $1::int8", want).Scan(&got)
		cancel()
		if err == nil && got != want {
			err = fmt.Errorf("query %d returned %d, want %d", n, got, want)
		}
		if err != nil {
			r.err = fmt.Errorf("query %d after %s: %w", n, time.Since(start).Round(time.Millisecond), err)
			return r
		}
		now := time.Now()
		r.queries++
		r.maxGap = max(r.maxGap, now.Sub(done))
		r.last, done = now, now
		<-tick.C
	}
	return r
}

func firstError(errs []error) error {
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
	}
	return nil
}

// needOpenFiles fails unless process pid may open at least n files:
// nothing in the harness may cap what the sessions need. The test's own
// limit is raised to its hard limit if need be; the keyway processes
// inherit it and raise their own.
func needOpenFiles(t *testing.T, who string, pid, n int) {
	t.Helper()
	if pid == os.Getpid() {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("reading RLIMIT_NOFILE: %v", err)
		}
		if lim.Cur < uint64(n) && lim.Max >= uint64(n) {
			lim.Cur = lim.Max
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
				t.Fatalf("raising RLIMIT_NOFILE to %d: %v", lim.Max, err)
			}
		}
	}
	limit, err := openFilesLimit(pid)
	if err != nil {
		t.Fatal(err)
	}
	if limit < n {
		t.Fatalf("%s (pid %d) may open %d files; the sessions of the test need about %d: raise the hard limit (ulimit -Hn)", who, pid, limit, n)
	}
}

// openFilesLimit reads the soft limit on open files of pid from
// /proc/PID/limits.
func openFilesLimit(pid int) (int, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/limits"
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading the open files limit: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Max open files"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			if fields[0] == "unlimited" {
				return int(^uint(0) >> 1), nil
			}
			n, err := strconv.Atoi(fields[0])
			if err != nil {
				return 0, fmt.Errorf("%s: Max open files %q: %w", path, fields[0], err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s has no Max open files line", path)
}
