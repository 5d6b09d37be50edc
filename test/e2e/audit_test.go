package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// auditEvents reads the audit log through the CLI.
func auditEvents(t *testing.T, cfg string, args ...string) []audit.Event {
	t.Helper()
	out := kw(t, append([]string{"audit", "search", "--format=json", "-c", cfg}, args...)...)
	var events []audit.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit search printed %q: %v", sc.Text(), err)
		}
		events = append(events, e)
	}
	return events
}

func TestSessionsAndStatementsAreAudited(t *testing.T) {
	a := startAllInOne(t)
	a.pg.SQL(t, "create table audited (id int, secret text)")
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := a.pgxConnect(t, alice, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "insert into audited values ($1, $2), ($3, $4)", 1, "one", 2, "two"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "select no_such_column from audited where id = $1", 1); err == nil {
		t.Fatal("a bad statement succeeded")
	}
	if _, err := conn.Exec(ctx, "delete from audited where id = 1", pgxSimple); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)

	var events []audit.Event
	waitFor(t, 10*time.Second, "the session's end to be audited", func() bool {
		events = auditEvents(t, a.cfg, "--db="+dbName)
		for _, e := range events {
			if e.Event == audit.SessionEnd {
				return true
			}
		}
		return false
	})
	byType := map[string][]audit.Event{}
	for _, e := range events {
		byType[e.Event] = append(byType[e.Event], e)
		if e.User != "alice" || e.DBService != dbName || e.DBUser != "postgres" || e.SessionID == "" || e.Cluster != "e2e" {
			t.Errorf("event without its session's identity: %+v", e)
		}
	}
	if s := byType[audit.SessionStart]; len(s) != 1 || !s[0].Success || s[0].SpiffeID != "spiffe://e2e/user/alice" {
		t.Fatalf("session start events: %+v", s)
	}
	var insert, failed *audit.Event
	for i, e := range byType[audit.SessionStatement] {
		switch {
		case strings.HasPrefix(e.Query, "insert into audited"):
			insert = &byType[audit.SessionStatement][i]
		case strings.Contains(e.Query, "no_such_column"):
			failed = &byType[audit.SessionStatement][i]
		}
	}
	if insert == nil || !insert.Success || insert.RowsAffected != 2 || strings.Join(insert.Parameters, ",") != "AAAAAQ==,one,AAAAAg==,two" {
		t.Fatalf("insert statement event: %+v", insert)
	}
	if failed == nil || failed.Success || !strings.Contains(failed.Error, "42703") {
		t.Fatalf("failed statement event: %+v", failed)
	}
	if q := byType[audit.SessionQuery]; len(q) != 1 || q[0].Query != "delete from audited where id = 1" {
		t.Fatalf("simple query events: %+v", q)
	}
	end := byType[audit.SessionEnd]
	if len(end) != 1 || end[0].BytesIn == 0 || end[0].BytesOut == 0 {
		t.Fatalf("session end: %+v", end)
	}
	for i := 1; i < len(events); i++ {
		if events[i].SessionID == events[0].SessionID && events[i].Index <= events[i-1].Index {
			t.Fatalf("events out of order: %d after %d", events[i].Index, events[i-1].Index)
		}
	}

	// pgx binds integers in binary: they are recorded as base64.

	// A denied session is audited as a failed start with the reason.
	bob := a.userFiles(t, "bob", "--roles=access", "--db-users=app", "--db-names=*")
	if _, err := a.pgxConnect(t, bob, "postgres", "postgres"); err == nil {
		t.Fatal("bob was let in")
	}
	waitFor(t, 10*time.Second, "the denial to be audited", func() bool {
		for _, e := range auditEvents(t, a.cfg, "--user=bob", "--type="+audit.SessionStart) {
			if !e.Success && strings.Contains(e.Error, "no role of bob allows") {
				return true
			}
		}
		return false
	})
}

func TestDBEventsTurnsSessionAuditingDown(t *testing.T) {
	tests := []struct {
		setting string
		want    []string // event types of the session, in order
		warning string
	}{
		{"sessions", []string{audit.SessionStart, audit.SessionEnd}, "database statements are NOT recorded"},
		{"none", nil, "database sessions are NOT recorded in the audit log at all"},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			a := startAllInOneWith(t, allInOneOptions{extra: "\naudit {\n  db_events = \"" + tt.setting + "\"\n}\n"})
			if !strings.Contains(a.node.logs(), tt.warning) {
				t.Fatalf("no warning at start:\n%s", a.node.logs())
			}
			alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
			out, err := pgtestPsql(a.connString(alice, "postgres", "postgres"), "select 'not recorded'")
			if err != nil || out != "not recorded" {
				t.Fatalf("psql: %q, %v", out, err)
			}
			// The auth role's events are recorded still. A session's start
			// would have been durable before psql returned; the marker, a
			// later event, gives its other events time to arrive.
			kw(t, "users", "add", "marker", "--roles=access", "-c", a.cfg)
			waitFor(t, 10*time.Second, "the marker event", func() bool {
				return slices.ContainsFunc(auditEvents(t, a.cfg, "--type="+audit.UserCreate), func(e audit.Event) bool { return e.Target == "marker" })
			})
			if tt.want != nil {
				waitFor(t, 10*time.Second, "the session's end", func() bool {
					return len(auditEvents(t, a.cfg, "--type="+audit.SessionEnd)) == 1
				})
			}
			var got []string
			for _, e := range auditEvents(t, a.cfg, "--db="+dbName) {
				got = append(got, e.Event)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("session events %v, want %v", got, tt.want)
			}
		})
	}
}

// TestOperatorSignaturesAreAudited: certificates an operator signs with
// keyway auth sign are recorded as cert.issued before they are handed out.
func TestOperatorSignaturesAreAudited(t *testing.T) {
	a := startAllInOne(t)
	a.userFiles(t, "carol", "--roles=access", "--db-users=*", "--db-names=*")
	var found bool
	for _, e := range auditEvents(t, a.cfg, "--type=cert.issued") {
		if e.Code == "TC003" && e.Success && e.Target == "spiffe://e2e/user/carol" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no cert.issued event for carol's certificate: %+v", auditEvents(t, a.cfg, "--type=cert.issued"))
	}
}
