package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/test/pgtest"
)

// TestRejectedHugeQueryThroughAgentFreesTheClient sends, through an agent
// in its own process, a Query message declaring 1 GiB and then streams
// its body. The database side gives up on the session at once; the proxy
// must then close the client's connection within seconds (its reads end
// and its writes fail while it still holds its socket) and release every
// descriptor the session held, in its core and its postgres plugin.
// With TLS in the plugin, the plugin holds the client and relays into the
// core; with TLS in the proxy, the core holds it.
func TestRejectedHugeQueryThroughAgentFreesTheClient(t *testing.T) {
	tests := []struct{ name, proxyExtra string }{
		{"TLS in the plugin", ""},
		{"TLS in the proxy", "tls_in_plugin = false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { hugeQueryThroughAgent(t, tt.proxyExtra) })
	}
}

func hugeQueryThroughAgent(t *testing.T, proxyExtra string) {
	a := startAllInOneWith(t, allInOneOptions{proxyExtra: proxyExtra})
	const remote = "remote-postgres"
	token := filepath.Join(a.dir, "agent.token")
	if err := os.WriteFile(token, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", a.cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, data := filepath.Join(a.dir, "agent.hcl"), filepath.Join(a.dir, "agent")
	body := fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = \"remote\"\n\n  database %q {\n    protocol = \"postgres\"\n    uri      = %q\n  }\n}\n",
		data, a.proxy, token, remote, a.pg.Addr())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, cfg, data)
	prefix := a.path("alice-remote")
	kwSign(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*",
		"--route="+remote, "--route-db-user=postgres", "--out="+prefix, "-c", a.cfg)
	waitFor(t, 20*time.Second, "a session through the agent", func() bool {
		_, err := pgtest.Psql(a.connString(prefix, "postgres", "postgres"), "select 1")
		return err == nil
	})

	pids := []int{a.node.cmd.Process.Pid, a.node.plugin("postgres").PID}
	before := fdCount(t, pids)
	c := pgSession(t, a.proxy, prefix)
	defer func() { _ = c.Close() }()
	during := fdCount(t, pids)
	t.Logf("descriptors of the proxy's core and postgres plugin: %d idle, %d with the session", before, during)

	// 'Q' declaring 1 GiB, then as much of the body as the connection
	// takes.
	writeFailed := make(chan error, 1)
	go func() {
		header := []byte{'Q', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(header[1:], 1<<30)
		if _, err := c.Write(header); err != nil {
			writeFailed <- err
			return
		}
		chunk := make([]byte, 32<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				writeFailed <- err
				return
			}
		}
	}()
	sent := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the proxy kept the client's connection open for 20 s after the database side gave up")
	}
	t.Logf("the client's reads ended %s after the huge Query (%v)", time.Since(sent).Round(time.Millisecond), err)
	select {
	case err := <-writeFailed:
		t.Logf("the client's writes failed %s after the huge Query: %v", time.Since(sent).Round(time.Millisecond), err)
	case <-time.After(15 * time.Second):
		t.Fatal("the client can still write 15 s after its reads ended: the proxy only half-closed it")
	}
	// The client still holds its socket: what the proxy held for the
	// session is released by the proxy itself.
	waitFor(t, 10*time.Second, "the proxy's descriptors to return to their idle count", func() bool {
		return fdCount(t, pids) <= before
	})
	t.Logf("descriptors back to %d, %s after the huge Query", fdCount(t, pids), time.Since(sent).Round(time.Millisecond))
}

// fdCount sums the open descriptors of pids.
func fdCount(t *testing.T, pids []int) int {
	t.Helper()
	n := 0
	for _, pid := range pids {
		fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
		if err != nil {
			t.Fatalf("descriptors of %d: %v", pid, err)
		}
		n += len(fds)
	}
	return n
}

// pgSession connects to the proxy with the user files at prefix, as
// user postgres to database postgres, and reads until the session is
// ready for a query.
func pgSession(t *testing.T, addr, prefix string) *tls.Conn {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(prefix+".crt", prefix+".key")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(mustRead(t, prefix+".cas")) {
		t.Fatal("no CA in " + prefix + ".cas")
	}
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(15 * time.Second))
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], 80877103)
	if _, err := raw.Write(req[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(raw, req[:1]); err != nil || req[0] != 'S' {
		t.Fatalf("SSLRequest answered %q, %v", req[0], err)
	}
	host, _, _ := net.SplitHostPort(addr)
	c := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: host, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	params := "user\x00postgres\x00database\x00postgres\x00\x00"
	startup := make([]byte, 8, 8+len(params))
	binary.BigEndian.PutUint32(startup[:4], uint32(8+len(params)))
	binary.BigEndian.PutUint32(startup[4:], 196608)
	if _, err := c.Write(append(startup, params...)); err != nil {
		t.Fatalf("startup: %v", err)
	}
	for {
		var head [5]byte
		if _, err := io.ReadFull(c, head[:]); err != nil {
			t.Fatalf("reading the session's start: %v", err)
		}
		msg := make([]byte, binary.BigEndian.Uint32(head[1:])-4)
		if _, err := io.ReadFull(c, msg); err != nil {
			t.Fatalf("reading the session's start: %v", err)
		}
		switch head[0] {
		case 'E':
			t.Fatalf("the session was refused: %q", msg)
		case 'Z':
			_ = raw.SetDeadline(time.Time{})
			return c
		}
	}
}
