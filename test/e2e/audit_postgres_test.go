package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// auditDatabase is a second PostgreSQL, the audit sink's, which keyway
// reaches over TLS with a password from a 0600 file.
type auditDatabase struct {
	pg    *pgtest.Server
	block string // the audit block that uses it
}

func startAuditDatabase(t *testing.T, onFailure string) auditDatabase {
	t.Helper()
	files := pgtest.WriteTLSFiles(t)
	opts := files.Options()
	opts.HBA = []string{"hostssl all keyway_audit 127.0.0.1/32 scram-sha-256"}
	pg := pgtest.Start(t, opts)
	pg.SQL(t, "create role keyway_audit login password 'audit-secret'; grant create on schema public to keyway_audit")
	pw := filepath.Join(t.TempDir(), "audit.password")
	if err := os.WriteFile(pw, []byte("audit-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	block := fmt.Sprintf(`
audit {
  on_failure = %q
  postgres {
    url           = "postgres://keyway_audit@127.0.0.1:%d/postgres?sslmode=verify-full"
    ca_cert_file  = %q
    password_file = %q
  }
}
`, onFailure, pg.Port, files.CA, pw)
	return auditDatabase{pg: pg, block: block}
}

// count runs a count query on the audit table.
func (d auditDatabase) count(t *testing.T, where string) string {
	t.Helper()
	return d.pg.SQL(t, "select count(*) from keyway_audit_events where "+where)
}

// markedLoad runs clients that each connect, run one statement with a
// query text of its own (a marker) and disconnect, in a loop. It keeps
// the markers of the statements whose results reached the client, and
// the errors of sessions that failed.
type markedLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	acked      []string
	errs       []error
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startMarkedLoad(t *testing.T, a *allInOne, prefix string, clients int) *markedLoad {
	l := &markedLoad{stop: make(chan struct{})}
	for c := range clients {
		l.wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				marker := fmt.Sprintf("marker-%d-%d", c, n)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				conn, err := a.pgxConnect(t, prefix, "postgres", "postgres")
				if err == nil {
					var got string
					err = conn.QueryRow(ctx, "select '"+marker+"'").Scan(&got)
					_ = conn.Close(ctx)
				}
				cancel()
				l.mu.Lock()
				if err != nil {
					l.failed.Add(1)
					l.errs = append(l.errs, err)
				} else {
					l.ok.Add(1)
					l.acked = append(l.acked, marker)
				}
				l.mu.Unlock()
			}
		})
	}
	t.Cleanup(l.finish)
	return l
}

// finish stops the clients and waits for them.
func (l *markedLoad) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *markedLoad) refusedForAudit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		if state, msg := sqlStateOf(err); state == "08004" && strings.Contains(msg, "keyway cannot record this session in its audit log, so it is refused: audit log unavailable") {
			n++
		}
	}
	return n
}

// checkAcknowledged waits until every acknowledged statement is in the
// audit table and checks each is there exactly once, with its session's
// start exactly once.
func checkAcknowledged(t *testing.T, db auditDatabase, l *markedLoad) {
	t.Helper()
	l.mu.Lock()
	acked := append([]string(nil), l.acked...)
	l.mu.Unlock()
	list := "'select ''" + strings.Join(acked, "''', 'select ''") + "'''"
	waitFor(t, 30*time.Second, "every acknowledged statement in the audit table", func() bool {
		return db.count(t, "event = 'db.session.statement' and body->>'query' in ("+list+")") == fmt.Sprint(len(acked))
	})
	if dup := db.pg.SQL(t, `select count(*) from (select body->>'query' from keyway_audit_events
		where event = 'db.session.statement' and body->>'query' like 'select ''marker-%' group by 1 having count(*) > 1) d`); dup != "0" {
		t.Fatalf("%s statements were recorded more than once", dup)
	}
	// Session events are numbered within their session; other events
	// (a user created, a certificate signed) have neither.
	if dup := db.pg.SQL(t, `select count(*) from (select sid, body->>'ei' from keyway_audit_events where sid <> '' group by 1, 2 having count(*) > 1) d`); dup != "0" {
		t.Fatalf("%s session events were recorded more than once:\n%s", dup, db.pg.SQL(t, `select string_agg(body::text, E'\n') from keyway_audit_events e
			where sid <> '' and exists (select from keyway_audit_events d where d.sid = e.sid and d.body->>'ei' is not distinct from e.body->>'ei' and d.id <> e.id)`))
	}
	starts := db.pg.SQL(t, `select count(*) from keyway_audit_events s where s.event = 'db.session.start' and (s.body->>'success')::bool
		and s.sid in (select sid from keyway_audit_events where event = 'db.session.statement' and body->>'query' in (`+list+`))`)
	if starts != fmt.Sprint(len(acked)) {
		t.Fatalf("%s session starts for %d acknowledged sessions", starts, len(acked))
	}
}

func TestPostgresAuditSinkStoppedMidRun(t *testing.T) {
	tests := []struct {
		onFailure string
		// duringOutage checks what clients see while the sink is away.
		duringOutage func(t *testing.T, a *allInOne, l *markedLoad)
	}{
		{"deny", func(t *testing.T, a *allInOne, l *markedLoad) {
			waitFor(t, 15*time.Second, "new sessions to be refused with the audit log's error", func() bool { return l.refusedForAudit() >= 3 })
			if code, body := get(t, "http://"+a.diag+"/readyz"); code != 503 || !strings.Contains(body, "the audit log is unavailable") {
				t.Fatalf("/readyz while the audit database is away: %d %q", code, body)
			}
		}},
		{"allow", func(t *testing.T, a *allInOne, l *markedLoad) {
			before := l.ok.Load()
			waitFor(t, 15*time.Second, "sessions to go on while the audit database is away", func() bool { return l.ok.Load() >= before+30 })
			if n := l.failed.Load(); n != 0 {
				t.Fatalf("%d sessions failed with on_failure = allow; first: %v", n, l.errs[0])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.onFailure, func(t *testing.T) {
			db := startAuditDatabase(t, tt.onFailure)
			a := startAllInOneWith(t, allInOneOptions{extra: db.block})
			alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
			l := startMarkedLoad(t, a, alice, 3)
			waitFor(t, 15*time.Second, "sessions through keyway", func() bool { return l.ok.Load() >= 20 })

			db.pg.Halt()
			tt.duringOutage(t, a, l)
			if err := db.pg.Resume(); err != nil {
				t.Fatal(err)
			}
			resumed := l.ok.Load()
			waitFor(t, 15*time.Second, "sessions after the audit database is back", func() bool { return l.ok.Load() >= resumed+20 })
			l.finish()
			if refused, failed := l.refusedForAudit(), int(l.failed.Load()); refused != failed {
				t.Fatalf("%d sessions failed, %d of them refused for the audit log; first error: %v", failed, refused, l.errs[0])
			}
			checkAcknowledged(t, db, l)
			if code, body := get(t, "http://"+a.diag+"/readyz"); code != 200 {
				t.Fatalf("/readyz after the audit database came back: %d %q", code, body)
			}

			// audit search reads the table.
			events := auditEvents(t, a.cfg, "--type="+audit.SessionStatement, "--user=alice")
			if len(events) < len(l.acked) {
				t.Fatalf("audit search found %d statements, want at least %d", len(events), len(l.acked))
			}
			t.Logf("%d sessions acknowledged, %d failed", l.ok.Load(), l.failed.Load())
		})
	}
}
