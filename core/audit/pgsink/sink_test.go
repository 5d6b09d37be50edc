package pgsink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// auditDB is a real PostgreSQL with TLS that accepts the client
// certificate of "keyway" and the password of "keyway_pw".
type auditDB struct {
	pg    *pgtest.Server
	files pgtest.TLSFiles
}

func startDB(t *testing.T) auditDB {
	t.Helper()
	files := pgtest.WriteTLSFiles(t, "keyway")
	opts := files.Options()
	opts.HBA = []string{"hostssl all keyway_pw 127.0.0.1/32 scram-sha-256", "hostssl all all 127.0.0.1/32 cert"}
	pg := pgtest.Start(t, opts)
	pg.SQL(t, "create role keyway login superuser; create role keyway_pw login password 'pw-secret'; grant create on database postgres to keyway_pw; grant create on schema public to keyway_pw")
	return auditDB{pg: pg, files: files}
}

// options connect as keyway with its certificate, verifying the server.
func (d auditDB) options(table string) Options {
	cert, key := d.files.Client("keyway")
	return Options{
		URL:        fmt.Sprintf("postgres://keyway@127.0.0.1:%d/postgres", d.pg.Port),
		CACertFile: d.files.CA, CertFile: cert, KeyFile: key,
		Table: table, Cluster: "test",
		RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, PingInterval: 50 * time.Millisecond,
	}
}

func openSink(t *testing.T, o Options) *Sink {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// waitUntil polls cond, a readiness check, until it holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sessionEvent(sid string, ei int64, name, query string) audit.Event {
	return audit.Event{Event: name, Success: true, SessionID: sid, Index: ei, User: "alice", DBService: "orders", Query: query}
}

func TestSinkWritesSearchesAndTails(t *testing.T) {
	db := startDB(t)
	s := openSink(t, db.options("audit.events"))
	if err := s.Healthy(); err == nil || !strings.Contains(err.Error(), `schema "audit" does not exist`) {
		t.Fatalf("a table in a missing schema: %v", err)
	}
	_ = s.Close()
	db.pg.SQL(t, "create schema audit")
	ctx := context.Background()
	s = openSink(t, db.options("audit.events"))
	if err := s.Healthy(); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []string{"events_time", "events_event_time", "events_username_time", "events_db_time", "events_seq", "events_pkey"} {
		if got := db.pg.SQL(t, "select count(*) from pg_indexes where schemaname = 'audit' and indexname = '"+idx+"'"); got != "1" {
			t.Errorf("index %s: %s", idx, got)
		}
	}
	old := time.Now().Add(-2 * time.Hour).UTC()
	if err := s.Emit(ctx,
		audit.Event{Event: audit.AuthLogin, Success: true, User: "bob", Time: old},
		sessionEvent("s1", 1, audit.SessionStart, ""),
		sessionEvent("s1", 2, audit.SessionQuery, "select <1> & 'x'"),
	); err != nil {
		t.Fatal(err)
	}
	if err := s.EmitJSON(ctx, false, [][]byte{[]byte(`{"event":"db.session.statement","time":"2020-01-02T03:04:05Z","success":true,"sid":"s2","ei":3,"user":"carol","db_service":"billing","query":"update t"}`)}); err != nil {
		t.Fatal(err)
	}
	// A durable emit returns after its commit, and after everything before it.
	if err := s.EmitDurable(ctx, sessionEvent("s1", 3, audit.SessionEnd, "")); err != nil {
		t.Fatal(err)
	}
	if got := db.pg.SQL(t, "select count(*) from audit.events"); got != "5" {
		t.Fatalf("%s rows after a durable emit, want 5", got)
	}
	if got := db.pg.SQL(t, "select id || ' ' || event || ' ' || username || ' ' || db || ' ' || (body->>'cluster') from audit.events where sid = 's1' and body->>'ei' = '2'"); got != "s1/2 db.session.query alice orders test" {
		t.Fatalf("row of a session event: %q", got)
	}
	if st := s.Stats(); st.Written != 5 || st.QueueDepth != 0 || st.Batches < 1 {
		t.Fatalf("stats %+v", st)
	}

	r, err := OpenReader(ctx, db.options("audit.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tests := []struct {
		name string
		f    audit.Filter
		want string // events' type/ei, oldest first
	}{
		{"all", audit.Filter{}, "db.session.statement/3 auth.login/0 db.session.start/1 db.session.query/2 db.session.end/3"},
		{"type", audit.Filter{Type: audit.SessionQuery}, "db.session.query/2"},
		{"user", audit.Filter{User: "alice"}, "db.session.start/1 db.session.query/2 db.session.end/3"},
		{"db", audit.Filter{DB: "billing"}, "db.session.statement/3"},
		{"since", audit.Filter{Since: time.Now().Add(-time.Hour)}, "db.session.start/1 db.session.query/2 db.session.end/3"},
		{"limit", audit.Filter{User: "alice", Limit: 2}, "db.session.query/2 db.session.end/3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := r.Search(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(events); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	events, _ := r.Search(ctx, audit.Filter{Type: audit.SessionQuery})
	if len(events) != 1 || events[0].Query != "select <1> & 'x'" {
		t.Fatalf("the query did not survive the round trip: %+v", events)
	}

	// Tail: the last two of alice's, then new ones as they are committed.
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan audit.Event, 10)
	tailDone := make(chan error, 1)
	go func() {
		tailDone <- r.Tail(tctx, audit.Filter{User: "alice", Limit: 2}, true, func(e audit.Event) error { got <- e; return nil })
	}()
	want := []int64{2, 3, 4}
	for i, ei := range want {
		if i == 2 {
			if err := s.EmitDurable(ctx, sessionEvent("s1", 4, audit.SessionEnd, ""), audit.Event{Event: audit.UserCreate, User: "root", Target: "dave"}); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case e := <-got:
			if e.Index != ei || e.User != "alice" {
				t.Fatalf("tail event %d: %+v", i, e)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("tail did not deliver event %d", i)
		}
	}
	cancel()
	if err := <-tailDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("tail ended with %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("tail delivered an event that does not match: %+v", <-got)
	}
}

func summary(events []audit.Event) string {
	parts := make([]string, len(events))
	for i, e := range events {
		parts[i] = e.Event + "/" + strconv.FormatInt(e.Index, 10)
	}
	return strings.Join(parts, " ")
}

func TestRetriedEventsAreWrittenOnce(t *testing.T) {
	db := startDB(t)
	s := openSink(t, db.options(""))
	ctx := context.Background()
	start := []byte(`{"event":"db.session.start","success":true,"sid":"abc","ei":1,"user":"alice"}`)
	for range 3 {
		if err := s.EmitJSON(ctx, true, [][]byte{start}); err != nil {
			t.Fatal(err)
		}
	}
	// Events without a session each get their own id, even when equal.
	login := audit.Event{Event: audit.AuthLogin, User: "alice", Time: time.Now()}
	if err := s.EmitDurable(ctx, login, login); err != nil {
		t.Fatal(err)
	}
	if got := db.pg.SQL(t, "select event || '=' || count(*) from keyway_audit_events group by event order by event"); got != "auth.login=2\ndb.session.start=1" {
		t.Fatalf("rows: %q", got)
	}
}

func TestDatabaseAwayAndBack(t *testing.T) {
	db := startDB(t)
	o := db.options("")
	o.QueueSize = 5
	s := openSink(t, o)
	ctx := context.Background()
	if err := s.EmitDurable(ctx, sessionEvent("before", 1, audit.SessionStart, "")); err != nil {
		t.Fatal(err)
	}

	db.pg.Halt()
	waitUntil(t, "the sink to notice the database is away", func() bool { return s.Healthy() != nil })
	err := s.EmitDurable(ctx, sessionEvent("refused", 1, audit.SessionStart, ""))
	if err == nil || !strings.Contains(err.Error(), "audit log unavailable") {
		t.Fatalf("a durable emit while the database is away: %v", err)
	}
	for i := range int64(5) {
		if err := s.Emit(ctx, sessionEvent("during", i+1, audit.SessionQuery, "select "+strconv.FormatInt(i, 10))); err != nil {
			t.Fatalf("event %d while the database is away: %v", i, err)
		}
	}
	if st := s.Stats(); st.QueueDepth != 5 {
		t.Fatalf("queue depth %d, want 5", st.QueueDepth)
	}
	err = s.Emit(ctx, sessionEvent("during", 6, audit.SessionQuery, "select 6"))
	if err == nil || !strings.Contains(err.Error(), "queue is full (5 events waiting)") {
		t.Fatalf("an event beyond the queue: %v", err)
	}
	if st := s.Stats(); st.Refused != 1 || st.Failures == 0 {
		t.Fatalf("stats %+v", st)
	}

	if err := db.pg.Resume(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the queue to be written", func() bool { return s.Healthy() == nil && s.Stats().QueueDepth == 0 })
	got := db.pg.SQL(t, "select sid || '/' || count(*) from keyway_audit_events group by sid order by sid")
	if got != "before/1\nduring/5" {
		t.Fatalf("rows by session after the database came back:\n%s", got)
	}
	if err := s.EmitDurable(ctx, sessionEvent("after", 1, audit.SessionStart, "")); err != nil {
		t.Fatal(err)
	}
}

func TestCloseReportsEventsItCouldNotWrite(t *testing.T) {
	db := startDB(t)
	o := db.options("")
	o.CloseTimeout = 300 * time.Millisecond
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	db.pg.Halt()
	waitUntil(t, "the sink to notice the database is away", func() bool { return s.Healthy() != nil })
	if err := s.Emit(context.Background(), sessionEvent("x", 1, audit.SessionQuery, "q"), sessionEvent("x", 2, audit.SessionQuery, "q")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err == nil || !strings.Contains(err.Error(), "2 events not written") {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Emit(context.Background(), sessionEvent("x", 3, audit.SessionQuery, "q")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close: %v", err)
	}
}

func TestPasswordsComeOnlyFromPrivateFiles(t *testing.T) {
	db := startDB(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("pw-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := func() Options {
		return Options{URL: fmt.Sprintf("postgres://keyway_pw@127.0.0.1:%d/postgres", db.pg.Port), CACertFile: db.files.CA, PasswordFile: pwFile}
	}
	if _, err := Open(base()); err == nil || !strings.Contains(err.Error(), "has mode 0644") || strings.Contains(err.Error(), "pw-secret") {
		t.Fatalf("a password file others can read: %v", err)
	}
	if err := os.Chmod(pwFile, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openSink(t, base())
	if err := s.Healthy(); err != nil {
		t.Fatal(err)
	}
	if err := s.EmitDurable(context.Background(), audit.Event{Event: audit.AuthLogin}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{
		{URL: "postgres://keyway_pw:pw-secret@127.0.0.1/postgres"},
		{URL: "postgres://keyway_pw@127.0.0.1/postgres?password=pw-secret"},
		{URL: "postgres://keyway_pw@127.0.0.1/postgres?sslkey=/k"},
		{URL: "host=127.0.0.1 user=keyway_pw"},
	} {
		if _, err := Open(o); err == nil || strings.Contains(err.Error(), "pw-secret") {
			t.Errorf("%s: %v", o.URL, err)
		}
	}
	// The server is verified: another CA's certificate fails.
	other := pgtest.WriteTLSFiles(t)
	o := base()
	o.CACertFile = other.CA
	bad := openSink(t, o)
	if err := bad.Healthy(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a server certificate from another CA: %v", err)
	}
}

func TestEventsTheDatabaseRefusesAreKept(t *testing.T) {
	db := startDB(t)
	s := openSink(t, db.options(""))
	ctx := context.Background()
	err := s.EmitJSON(ctx, true, [][]byte{
		[]byte(`{"event":"db.session.statement","sid":"n","ei":1,"parameters":["a\u0000b","c\\u0000d"]}`),
		[]byte(`{"event":"db.session.statement","sid":"n","ei":2,"query":"lone \ud800 surrogate"}`),
		[]byte(`{"event":"db.session.statement","sid":"n","ei":3,"query":"fine"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := db.pg.SQL(t, `select (body->>'ei') || ' ' || coalesce(body->'parameters'->>0, '') || ' ' || coalesce(body->'parameters'->>1, '') || ' ' || coalesce(body->>'unstorable', '') || ' ' || coalesce(body->>'query', '') from keyway_audit_events order by seq`)
	lines := strings.Split(got, "\n")
	if len(lines) != 3 {
		t.Fatalf("rows:\n%s", got)
	}
	if lines[0] != "1 a\uFFFDb c\\u0000d  " {
		t.Errorf("NUL replaced, the escaped backslash kept: %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "2   22P02: invalid input syntax for type json") {
		t.Errorf("the refused event is recorded as unstorable: %q", lines[1])
	}
	if raw := db.pg.SQL(t, `select convert_from(decode(body->>'raw_base64', 'base64'), 'UTF8') from keyway_audit_events where id = 'n/2'`); !strings.Contains(raw, `lone \ud800 surrogate`) {
		t.Errorf("the refused event's bytes: %q", raw)
	}
	if lines[2] != "3    fine" {
		t.Errorf("the event after it: %q", lines[2])
	}
}

func TestStorable(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":"x"}`, `{"a":"x"}`},
		{`{"a":"x\u0000y"}`, `{"a":"x\ufffdy"}`},
		{`{"a":"x\\u0000y"}`, `{"a":"x\\u0000y"}`},
		{`{"a":"\\\u0000"}`, `{"a":"\\\ufffd"}`},
		{`{"a":"\u00001"}`, `{"a":"\ufffd1"}`},
	}
	for _, tt := range tests {
		if got := storable(tt.in); got != tt.want {
			t.Errorf("storable(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestEmitDurableWithoutEventsWaitsForTheQueue(t *testing.T) {
	db := startDB(t)
	s := openSink(t, db.options(""))
	ctx := context.Background()
	events := make([]audit.Event, 50)
	for i := range events {
		events[i] = sessionEvent("q", int64(i+1), audit.SessionQuery, "select 1")
	}
	if err := s.Emit(ctx, events...); err != nil {
		t.Fatal(err)
	}
	if err := s.EmitDurable(ctx); err != nil {
		t.Fatal(err)
	}
	if got := db.pg.SQL(t, "select count(*) from keyway_audit_events"); got != "50" {
		t.Fatalf("%s rows after the barrier, want 50", got)
	}
}

func TestFullQueueWaitsWhileTheDatabaseIsSlow(t *testing.T) {
	db := startDB(t)
	o := db.options("")
	o.QueueSize = 3
	s := openSink(t, o)
	ctx := context.Background()
	// Another session holds the table, so the writer's insert waits.
	lock, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", db.pg.SocketDir, db.pg.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Close(ctx) }()
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "lock table keyway_audit_events in access exclusive mode"); err != nil {
		t.Fatal(err)
	}
	for i := range int64(3) {
		if err := s.Emit(ctx, sessionEvent("slow", i+1, audit.SessionQuery, "q")); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = s.EmitDurable(short, sessionEvent("slow", 4, audit.SessionStart, ""))
	cancel()
	if err == nil || !strings.Contains(err.Error(), "audit log queue full (3 events waiting for the database)") {
		t.Fatalf("a durable emit into a full queue: %v", err)
	}
	if s.Healthy() != nil {
		t.Fatalf("a slow database counts as away: %v", s.Healthy())
	}
	// Backpressure: the emit waits for room, and gets it once the
	// database takes the batch.
	done := make(chan error, 1)
	go func() { done <- s.EmitDurable(ctx, sessionEvent("slow", 5, audit.SessionStart, "")) }()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := db.pg.SQL(t, "select string_agg(id, ' ' order by seq) from keyway_audit_events"); got != "slow/1 slow/2 slow/3 slow/5" {
		t.Fatalf("rows: %q", got)
	}
}
