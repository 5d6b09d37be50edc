package e2e

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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

func TestKilledPostgresPluginUnderLoad(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	stop := make(chan struct{})
	ok, _, _, wg := load(t, a, alice, 4, stop)
	defer func() { close(stop); wg.Wait() }()
	waitFor(t, 10*time.Second, "the load to run", func() bool { return ok.Load() > 20 })

	pid := a.node.plugin("postgres").PID
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
}

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

func TestManyConcurrentSessions(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	const sessions = 150
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failures atomic.Int64
	var firstErr atomic.Value
	hold := time.Now().Add(5 * time.Second)
	for range sessions {
		wg.Go(func() {
			conn, err := a.pgxConnect(t, alice, "postgres", "postgres")
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			defer func() { _ = conn.Close(ctx) }()
			for time.Now().Before(hold) {
				var n int
				if err := conn.QueryRow(ctx, "select count(*) from pg_stat_activity").Scan(&n); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d sessions failed; first: %v", n, sessions, firstErr.Load())
	}
}
