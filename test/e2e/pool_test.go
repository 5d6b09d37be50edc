package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// TestPooledSessionsShareABackendAndNothingElse opens sessions one after
// another for two keyway users mapped to the same database user through
// a database with a pool: all run on one PostgreSQL backend, none sees
// the settings, temporary tables or prepared statements of the one
// before, the audit log names each session's own user, and a session
// that leaves a transaction open does not hand its backend on.
func TestPooledSessionsShareABackendAndNothingElse(t *testing.T) {
	a := startAllInOneWith(t, allInOneOptions{dbExtra: `pool {
      mode         = "session"
      max_idle     = 4
      idle_timeout = "5m"
    }`})
	users := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		users[u] = a.userFiles(t, u, "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// pooled waits until the backend a session left is reset and idle in
	// the pool: the readiness of the next session's reuse.
	pooled := func(pid int) {
		t.Helper()
		waitFor(t, 15*time.Second, "the backend to be reset and pooled", func() bool {
			return a.pg.SQL(t, "select count(*) from pg_stat_activity where pid = "+strconv.Itoa(pid)+
				" and state = 'idle' and query = 'DISCARD ALL'") == "1"
		})
	}
	const sessions = 6
	pids := map[int]bool{}
	for i := range sessions {
		user := "alice"
		if i%2 == 1 {
			user = "bob"
		}
		conn, err := a.pgxConnect(t, users[user], "postgres", "postgres")
		if err != nil {
			t.Fatalf("session %d as %s: %v", i, user, err)
		}
		var pid int
		var searchPath string
		var temps, prepared int
		err = conn.QueryRow(ctx, `select pg_backend_pid(), current_setting('search_path'),
			(select count(*) from pg_class where relname = 'leaked_temp'),
			(select count(*) from pg_prepared_statements where name = 'leaked_stmt')`).Scan(&pid, &searchPath, &temps, &prepared)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if searchPath != `"$user", public` || temps != 0 || prepared != 0 {
			t.Fatalf("session %d inherited state: search_path %q, %d temp tables, %d prepared statements", i, searchPath, temps, prepared)
		}
		pids[pid] = true
		for _, sql := range []string{"set search_path = leaked", "create temp table leaked_temp (v int)", "prepare leaked_stmt as select 1"} {
			if _, err := conn.Exec(ctx, sql, pgxSimple); err != nil {
				t.Fatalf("session %d: %s: %v", i, sql, err)
			}
		}
		if err := conn.Close(ctx); err != nil {
			t.Fatal(err)
		}
		pooled(pid)
	}
	if len(pids) != 1 {
		t.Fatalf("%d sessions used %d backends, want one reused: %v", sessions, len(pids), pids)
	}

	// The audit log names the keyway user of every session, not the
	// first one the backend served.
	var starts []audit.Event
	waitFor(t, 15*time.Second, "every session's end to be audited", func() bool {
		starts = nil
		ends := 0
		for _, e := range auditEvents(t, a.cfg, "--db="+dbName) {
			switch e.Event {
			case audit.SessionStart:
				starts = append(starts, e)
			case audit.SessionEnd:
				ends++
			}
		}
		return ends == sessions && len(starts) == sessions
	})
	byUser := map[string]int{}
	for _, e := range starts {
		if e.DBUser != "postgres" || !e.Success {
			t.Errorf("session start %+v", e)
		}
		byUser[e.User]++
	}
	if byUser["alice"] != sessions/2 || byUser["bob"] != sessions/2 {
		t.Fatalf("session starts by user %v, want %d each for alice and bob", byUser, sessions/2)
	}

	// A session that ends inside a transaction takes its backend with it.
	conn, err := a.pgxConnect(t, users["alice"], "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	var inTx int
	if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&inTx); err != nil {
		t.Fatal(err)
	}
	if !pids[inTx] {
		t.Fatalf("the pooled backend was not reused: %d not in %v", inTx, pids)
	}
	if _, err := conn.Exec(ctx, "begin", pgxSimple); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	waitFor(t, 15*time.Second, "the backend left in a transaction to end", func() bool {
		return a.pg.SQL(t, "select count(*) from pg_stat_activity where pid = "+strconv.Itoa(inTx)) == "0"
	})
	conn, err = a.pgxConnect(t, users["bob"], "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var next int
	if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&next); err != nil {
		t.Fatal(err)
	}
	if next == inTx {
		t.Fatal("a backend left inside a transaction was handed to the next session")
	}
}
