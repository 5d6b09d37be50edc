package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/admin"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// floodNoFile is the open file limit, soft and hard, of the keyway under
// flood: enough to start all-in-one with its plugins, few enough that a
// few hundred silent connections exhaust it.
const floodNoFile = 256

// startAllInOneLimited starts an all-in-one keyway, as startAllInOneWith
// does, under prlimit with RLIMIT_NOFILE at nofile both soft and hard,
// so that keyway cannot raise it. proxyBlock is the whole proxy block's
// body after listen.
func startAllInOneLimited(t *testing.T, nofile int, proxyBlock string) *allInOne {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit, which this test starts keyway with, is part of util-linux: %v", err)
	}
	proxyAddr, diagAddr := freeAddr(t), freeAddr(t)
	c := newCluster(t, "")
	pg := postgresWith(t, c, nil)
	body := fmt.Sprintf(`cluster_name = "e2e"
data_dir = %q

auth {}

proxy {
  listen = %q
  %s
}

db {
  database %q {
    protocol = "postgres"
    uri      = %q
  }
}

diag {
  listen = %q
}
`, c.data, proxyAddr, proxyBlock, dbName, pg.Addr(), diagAddr)
	if err := os.WriteFile(c.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &allInOne{cluster: c, pg: pg, proxy: proxyAddr, diag: diagAddr}
	limit := fmt.Sprintf("--nofile=%d:%d", nofile, nofile)
	a.node = startNodeCmd(t, c.cfg, c.data, exec.Command(prlimit, limit, "--", built.keyway, "start", "-c", c.cfg))
	return a
}

// startNodeCmd is startNode with the command that runs keyway start.
func startNodeCmd(t *testing.T, cfgPath, dataDir string, cmd *exec.Cmd) *node {
	t.Helper()
	n := launchNode(t, cfgPath, dataDir, cmd)
	c := admin.NewClient(admin.SocketPath(dataDir))
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ready(ctx)
		cancel()
		if err == nil {
			return n
		}
		select {
		case <-n.exited:
			t.Fatalf("keyway exited during start:\n%s", n.logs())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyway not ready in time:\n%s", n.logs())
		}
	}
}

// keptAlive is an HTTP client that reuses one connection, opened before
// a flood: a process out of descriptors cannot accept a new one.
func keptAlive() *http.Client {
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
}

// getWith is get with a given client; a failed request returns code 0.
func getWith(c *http.Client, url string) (int, string) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// flood opens silent TCP connections to addr from the loopback, at most
// max of them and until stop is closed, and closes them all on return.
// keyway closes each at its handshake timeout; the flood keeps opening
// new ones, so the process stays out of descriptors.
func flood(addr string, limit int, stop <-chan struct{}) (opened int) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	for len(conns) < limit {
		select {
		case <-stop:
			return len(conns)
		default:
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			// The backlog is full: keyway is not accepting.
			time.Sleep(20 * time.Millisecond)
			continue
		}
		conns = append(conns, c)
	}
	<-stop
	return len(conns)
}

func TestFloodOfSilentConnectionsDoesNotTakeTheProxyDown(t *testing.T) {
	a := startAllInOneLimited(t, floodNoFile, `handshake_timeout = "2s"
  # Caps high enough for one address to exhaust the descriptors, which
  # is what this test is about; the caps have their own unit tests.
  max_unauthenticated             = 100000
  max_unauthenticated_per_address = 100000`)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")

	// keyway could not raise its limit, and says so.
	status := kw(t, "status", "-c", a.cfg)
	if want := fmt.Sprintf("soft limit %d, hard limit %d", floodNoFile, floodNoFile); !strings.Contains(status, want) {
		t.Fatalf("keyway status does not show %q:\n%s", want, status)
	}

	// A session and a diagnostics connection, both open before the flood.
	session, err := a.pgxConnect(t, alice, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = session.Close(context.Background()) }()
	diagClient := keptAlive()
	if code, body := getWith(diagClient, "http://"+a.diag+"/readyz"); code != 200 {
		t.Fatalf("/readyz before the flood: %d %q", code, body)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	opened := make(chan int, 1)
	wg.Go(func() { opened <- flood(a.proxy, 4*floodNoFile, stop) })
	stopFlood := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopFlood()

	// The proxy runs out of descriptors and says it is not ready.
	var notReady string
	waitFor(t, 30*time.Second, "/readyz to report the proxy cannot accept", func() bool {
		code, body := getWith(diagClient, "http://"+a.diag+"/readyz")
		notReady = body
		return code == http.StatusServiceUnavailable && strings.Contains(body, "cannot accept connections")
	})
	t.Logf("while flooded: %s", strings.TrimSpace(notReady))
	if !strings.Contains(a.node.logs(), "cannot accept connections; retrying with back-off") {
		t.Fatal("the saturation was not logged")
	}
	// The session opened before keeps working.
	for i := range 3 {
		var n int
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := session.QueryRow(ctx, "select $1::int + 1", i).Scan(&n)
		cancel()
		if err != nil || n != i+1 {
			t.Fatalf("query %d during the flood: %d, %v", i, n, err)
		}
	}

	stopFlood()
	t.Logf("the flood opened %d connections", <-opened)

	// keyway recovers by itself: it accepts, reports ready, and serves a
	// new psql session.
	select {
	case <-a.node.exited:
		t.Fatalf("keyway exited during the flood:\n%s", a.node.logs())
	default:
	}
	waitFor(t, 30*time.Second, "/readyz to report ready after the flood", func() bool {
		code, _ := getWith(diagClient, "http://"+a.diag+"/readyz")
		return code == http.StatusOK
	})
	out, err := pgtest.Psql(a.connString(alice, "postgres", "postgres"), "select 'after the flood'")
	if err != nil || out != "after the flood" {
		t.Fatalf("psql after the flood: %q, %v", out, err)
	}
	if !strings.Contains(a.node.logs(), "accepting connections again") {
		t.Fatal("the recovery was not logged")
	}
	_, scrape := getWith(diagClient, "http://"+a.diag+"/metrics")
	if v, ok := metricValue(scrape, `keyway_accept_errors{error="emfile",listener="proxy"}`); !ok || v < 1 {
		t.Fatalf("EMFILE accept errors not counted (%v, %v):\n%s", v, ok, scrape)
	}
	// The gauge is sampled every 5 s.
	waitFor(t, 15*time.Second, "the saturation gauge to read 0", func() bool {
		_, scrape := getWith(diagClient, "http://"+a.diag+"/metrics")
		v, ok := metricValue(scrape, `keyway_accept_saturated{listener="proxy"}`)
		return ok && v == 0
	})
	select {
	case <-a.node.exited:
		t.Fatal("keyway exited")
	default:
	}
}

// closedWithin reports how long the server took to close c, reading
// and discarding what it sends, up to limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", limit)
	}
	return time.Since(start)
}

func TestSilentAPIConnectionsAreClosed(t *testing.T) {
	a := startAllInOneWith(t, allInOneOptions{proxyExtra: `api_idle_timeout = "3s"`})
	dial := func(t *testing.T) *tls.Conn {
		t.Helper()
		// The check is of the server's deadlines, not of its certificate.
		c, err := tls.Dial("tcp", a.proxy, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{tunnel.ALPNAPI}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if got := c.ConnectionState().NegotiatedProtocol; got != tunnel.ALPNAPI {
			t.Fatalf("negotiated %q", got)
		}
		return c
	}

	t.Run("TLS done, nothing sent", func(t *testing.T) {
		// handshake_timeout is 2s in the all-in-one configuration.
		if took := closedWithin(t, dial(t), 15*time.Second); took > 5*time.Second {
			t.Fatalf("closed after %s, want about the 2s handshake timeout", took)
		}
	})
	t.Run("HTTP/2 started, no call", func(t *testing.T) {
		c := dial(t)
		// The client preface and an empty SETTINGS frame: a connection
		// ready for calls that makes none.
		preface := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)
		if _, err := c.Write(preface); err != nil {
			t.Fatal(err)
		}
		// Idle for 3s, then a GOAWAY, and the close at most 5s later.
		took := closedWithin(t, c, 30*time.Second)
		if took < 2*time.Second || took > 15*time.Second {
			t.Fatalf("closed after %s, want after the 3s idle timeout and its GOAWAY", took)
		}
	})
}

func TestOneAddressCannotTakeEveryHandshakePlace(t *testing.T) {
	const perAddress = 20
	a := startAllInOneLimited(t, 4096, fmt.Sprintf("handshake_timeout = \"10s\"\n  max_unauthenticated_per_address = %d", perAddress))
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")

	// 200 silent connections from 127.0.0.2: the first 20 are held in
	// their handshake (10 s here), the rest closed at once.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range 10 * perAddress {
		c, err := d.Dial("tcp", a.proxy)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// A closed connection reads its end at once; a held one times out
	// (5 s), well before its handshake timeout.
	var closedAtOnce atomic.Int32
	var reads sync.WaitGroup
	for _, c := range conns {
		reads.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				closedAtOnce.Add(1)
			}
		})
	}
	reads.Wait()
	if n := int(closedAtOnce.Load()); n != len(conns)-perAddress {
		t.Fatalf("%d of %d connections from one address were closed at once, want %d", n, len(conns), len(conns)-perAddress)
	}

	// Another address is unaffected.
	out, err := pgtest.Psql(a.connString(alice, "postgres", "postgres"), "select 'served'")
	if err != nil || out != "served" {
		t.Fatalf("psql from another address during the flood: %q, %v", out, err)
	}
	_, scrape := get(t, "http://"+a.diag+"/metrics")
	if v, ok := metricValue(scrape, `keyway_proxy_connections_refused{limit="per_address"}`); !ok || v != float64(closedAtOnce.Load()) {
		t.Fatalf("refusals counted %v (%v), want %d", v, ok, closedAtOnce.Load())
	}
	if n := strings.Count(a.node.logs(), "closing connections over the cap"); n < 1 || n > 2 {
		t.Fatalf("refusals logged %d times in about a second, want once (a line per 10 s)", n)
	}
}
