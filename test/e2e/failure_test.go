package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyway-dev/keyway/core/audit"
)

func TestSilentAndStalledClientsAreDropped(t *testing.T) {
	a := startAllInOne(t)
	tests := []struct {
		name  string
		begin func(c net.Conn)
	}{
		{"sends nothing", func(net.Conn) {}},
		{"stalls after SSLRequest", func(c net.Conn) {
			var req [8]byte
			binary.BigEndian.PutUint32(req[:4], 8)
			binary.BigEndian.PutUint32(req[4:], 80877103)
			_, _ = c.Write(req[:])
			_, _ = io.ReadFull(c, req[:1])
		}},
		{"stalls mid TLS handshake", func(c net.Conn) {
			var req [8]byte
			binary.BigEndian.PutUint32(req[:4], 8)
			binary.BigEndian.PutUint32(req[4:], 80877103)
			_, _ = c.Write(req[:])
			_, _ = io.ReadFull(c, req[:1])
			_, _ = c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x40}) // a record header and no record
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", a.proxy)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			tt.begin(c)
			start := time.Now()
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("the proxy kept a silent client for 15 s")
					}
					break
				}
			}
			if took := time.Since(start); took > 6*time.Second {
				t.Fatalf("dropped after %s; handshake_timeout is 2s", took)
			}
		})
	}
}

// load runs clients that connect, query and disconnect in a loop until
// stop is closed, counting successes and failures.
func load(t *testing.T, a *allInOne, prefix string, clients int, stop <-chan struct{}) (ok, failed *atomic.Int64, errs chan error, wg *sync.WaitGroup) {
	ok, failed, errs, wg = &atomic.Int64{}, &atomic.Int64{}, make(chan error, 1000), &sync.WaitGroup{}
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				conn, err := a.pgxConnect(t, prefix, "postgres", "postgres")
				if err == nil {
					var n int
					err = conn.QueryRow(ctx, "select 1").Scan(&n)
					_ = conn.Close(ctx)
				}
				cancel()
				if err != nil {
					failed.Add(1)
					select {
					case errs <- err:
					default:
					}
					continue
				}
				ok.Add(1)
			}
		})
	}
	return ok, failed, errs, wg
}

// TestKilledPostgresPluginUnderLoad kills the postgres plugin with
// SIGKILL while sessions come and go and others run marked statements:
// new sessions succeed again within 2 s, the killed process is gone, and
// every statement whose result a client received is in the audit log,
// once.
func TestKilledPostgresPluginUnderLoad(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	stop := make(chan struct{})
	ok, _, _, wg := load(t, a, alice, 4, stop)
	marked := runMarkedClients(a, alice, 4, stop)
	stopAll := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
		marked.wg.Wait()
	})
	defer stopAll()
	waitFor(t, 10*time.Second, "the load to run", func() bool { return ok.Load() > 20 && marked.minAcked() > 100 })

	pid := a.node.plugin("postgres").PID
	marked.markKill()
	signal(t, pid, syscall.SIGKILL)
	killed := time.Now()
	before := ok.Load()
	waitFor(t, 2*time.Second, "new sessions to succeed after kill -9 of the postgres plugin", func() bool {
		return ok.Load() > before+5
	})
	t.Logf("sessions succeed again %s after kill -9", time.Since(killed).Round(time.Millisecond))
	if err := waitGone([]int{pid}, time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every marked client to run statements again", func() bool { return marked.minAckedAfterKill() >= 5 })
	stopAll()
	if err := marked.wrong(); err != nil {
		t.Fatal(err)
	}
	marked.checkAudited(t, a)
}

// TestSIGTERMUnderLoadLosesNoAcknowledgedStatement stops keyway with
// SIGTERM while clients run marked statements: keyway exits within
// bounds, and every statement whose result a client received is in the
// audit log, once, because the plugins stop (recording what they wrote on
// their way out) before the audit log closes.
func TestSIGTERMUnderLoadLosesNoAcknowledgedStatement(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	stop := make(chan struct{})
	marked := runMarkedClients(a, alice, 6, stop)
	stopClients := sync.OnceFunc(func() {
		close(stop)
		marked.wg.Wait()
	})
	defer stopClients()
	waitFor(t, 10*time.Second, "the load to run", func() bool { return marked.minAcked() > 100 })

	signal(t, a.node.cmd.Process.Pid, syscall.SIGTERM)
	stopped := time.Now()
	select {
	case <-a.node.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("keyway did not exit within 20 s of SIGTERM under load")
	}
	t.Logf("keyway exited %s after SIGTERM under load", time.Since(stopped).Round(time.Millisecond))
	stopClients()
	if err := marked.wrong(); err != nil {
		t.Fatal(err)
	}
	marked.checkAudited(t, a)
}

// ackedStatement is a marked statement whose result its client received.
type ackedStatement struct {
	simple     bool
	beforeKill bool
}

// markedClients run sessions in which every statement carries a unique
// marker: in the query text for the simple protocol, as the bound
// parameter for the extended protocol, alternately. A client whose
// session breaks connects again; each remembers the statements whose
// results it received.
type markedClients struct {
	wg sync.WaitGroup

	mu         sync.Mutex
	acked      map[string]ackedStatement
	perClient  []int
	afterKill  []int
	killed     bool
	wrongValue error
}

// markedSimplePrefix and markedExtended are the marked statements as the
// audit log records them.
const (
	markedSimplePrefix = "select 'mark-"
	markedExtended     = "select $1::text"
)

func runMarkedClients(a *allInOne, prefix string, clients int, stop <-chan struct{}) *markedClients {
	m := &markedClients{acked: map[string]ackedStatement{}, perClient: make([]int, clients), afterKill: make([]int, clients)}
	for c := range clients {
		m.wg.Go(func() { m.client(a, prefix, c, stop) })
	}
	return m
}

func (m *markedClients) client(a *allInOne, prefix string, c int, stop <-chan struct{}) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	// Reconnecting while the plugin restarts is paced, not a busy loop.
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		if conn == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var err error
			conn, err = pgx.Connect(ctx, a.connString(prefix, "postgres", "postgres")+" application_name=keyway-marked")
			cancel()
			if err != nil {
				conn = nil
				select {
				case <-stop:
					return
				case <-retry.C:
				}
				continue
			}
		}
		marker := fmt.Sprintf("mark-%d-%d", c, n)
		simple := n%2 == 0
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var got string
		var err error
		if simple {
			err = conn.QueryRow(ctx, "select '"+marker+"'", pgxSimple).Scan(&got)
		} else {
			err = conn.QueryRow(ctx, markedExtended, marker).Scan(&got)
		}
		cancel()
		if err != nil {
			// Broken by the kill: the statement was not acknowledged.
			_ = conn.Close(context.Background())
			conn = nil
			continue
		}
		m.ack(c, marker, simple, got)
	}
}

func (m *markedClients) ack(c int, marker string, simple bool, got string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if got != marker {
		if m.wrongValue == nil {
			m.wrongValue = fmt.Errorf("client %d ran the statement marked %s and received %q", c, marker, got)
		}
		return
	}
	m.acked[marker] = ackedStatement{simple: simple, beforeKill: !m.killed}
	m.perClient[c]++
	if m.killed {
		m.afterKill[c]++
	}
}

// markKill notes that statements acknowledged from now on came after the
// kill. It is called just before the signal, so a statement counted as
// acknowledged before the kill surely was.
func (m *markedClients) markKill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.killed = true
}

func (m *markedClients) minAcked() int          { return m.min(m.perClient) }
func (m *markedClients) minAckedAfterKill() int { return m.min(m.afterKill) }

func (m *markedClients) min(counts []int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Min(counts)
}

func (m *markedClients) wrong() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wrongValue
}

// checkAudited waits until the audit log holds every acknowledged
// statement and fails when one is missing or recorded more than once.
func (m *markedClients) checkAudited(t *testing.T, a *allInOne) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var missing, twice []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		counts := markedEvents(auditEvents(t, a.cfg, "--db="+dbName))
		missing, twice = missing[:0], twice[:0]
		for marker, s := range m.acked {
			switch n := counts[markedKey{marker, s.simple}]; {
			case n == 0:
				missing = append(missing, describeMarked(marker, s))
			case n > 1:
				twice = append(twice, fmt.Sprintf("%s (%d times)", describeMarked(marker, s), n))
			}
		}
		// Events still in flight reach the log soon after the sessions
		// end; duplicates never go away.
		if len(missing) == 0 || time.Now().After(deadline) || len(twice) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := 0
	for _, s := range m.acked {
		if s.beforeKill {
			before++
		}
	}
	t.Logf("%d marked statements acknowledged, %d of them before the kill", len(m.acked), before)
	slices.Sort(missing)
	slices.Sort(twice)
	if len(missing) > 0 {
		t.Errorf("%d acknowledged statements are not in the audit log: %s", len(missing), strings.Join(first(missing, 20), ", "))
	}
	if len(twice) > 0 {
		t.Errorf("%d statements are in the audit log more than once: %s", len(twice), strings.Join(first(twice, 20), ", "))
	}
}

// markedKey is a marker and whether it was a simple Query.
type markedKey struct {
	marker string
	simple bool
}

// markedEvents counts the audit events of marked statements.
func markedEvents(events []audit.Event) map[markedKey]int {
	counts := map[markedKey]int{}
	for _, e := range events {
		switch {
		case e.Event == audit.SessionQuery && strings.HasPrefix(e.Query, markedSimplePrefix):
			counts[markedKey{strings.TrimSuffix(strings.TrimPrefix(e.Query, "select '"), "'"), true}]++
		case e.Event == audit.SessionStatement && e.Query == markedExtended && len(e.Parameters) == 1:
			counts[markedKey{e.Parameters[0], false}]++
		}
	}
	return counts
}

func describeMarked(marker string, s ackedStatement) string {
	kind := "extended"
	if s.simple {
		kind = "simple"
	}
	when := "after"
	if s.beforeKill {
		when = "before"
	}
	return fmt.Sprintf("%s (%s, acknowledged %s the kill)", marker, kind, when)
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func TestPostgresRestartUnderLoad(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	stop := make(chan struct{})
	ok, failed, errs, wg := load(t, a, alice, 4, stop)
	waitFor(t, 10*time.Second, "the load to run", func() bool { return ok.Load() > 20 })
	if err := a.pg.Restart(); err != nil {
		t.Fatal(err)
	}
	before := ok.Load()
	waitFor(t, 10*time.Second, "sessions to succeed again after the restart", func() bool { return ok.Load() > before+20 })
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if state, msg := sqlStateOf(err); !strings.HasPrefix(state, "08") && !strings.HasPrefix(state, "57P") && state != "" {
			t.Errorf("a client saw %s %q during the restart; want a connection error (08xxx) or shutdown (57P0x)", state, msg)
		}
	}
	t.Logf("%d sessions succeeded, %d failed while PostgreSQL restarted", ok.Load(), failed.Load())
}

// sqlStateOf is sqlState without failing on non-PostgreSQL errors (a
// connection reset mid-query has none).
func sqlStateOf(err error) (string, string) {
	if pe, ok := pgErr(err); ok {
		return pe.Code, pe.Message
	}
	return "", err.Error()
}
