package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/test/pgtest"
)

// TestClientTLSInThePluginOrTheProxy runs a session, a refusal and a
// certificate check with the postgres plugin completing clients' TLS (the
// default) and with the proxy doing it, and checks which certificate the
// client was shown: the plugin's serving certificate carries no host
// identity, the proxy's does.
func TestClientTLSInThePluginOrTheProxy(t *testing.T) {
	tests := []struct {
		name         string
		proxyExtra   string
		wantIdentity bool
	}{
		{"plugin completes TLS", "", false},
		{"proxy completes TLS", "tls_in_plugin = false", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startAllInOneWith(t, allInOneOptions{proxyExtra: tt.proxyExtra})
			alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
			out, err := pgtest.Psql(a.connString(alice, "postgres", "postgres"), "select current_user")
			if err != nil || out != "postgres" {
				t.Fatalf("psql: %q, %v", out, err)
			}
			bob := a.userFiles(t, "bob", "--roles=access", "--db-users=app", "--db-names=*")
			if _, err := a.pgxConnect(t, bob, "postgres", "postgres"); err == nil {
				t.Fatal("bob connected as postgres; his role allows only app")
			} else if code, _ := sqlState(t, err); code != "28000" {
				t.Fatalf("refusal SQLSTATE %s, want 28000", code)
			}
			leaf := serverCertificate(t, a.proxy, alice+".cas")
			if got := len(leaf.URIs) > 0; got != tt.wantIdentity {
				t.Fatalf("the client saw a certificate with identity %v (URIs %v); want identity %v", got, leaf.URIs, tt.wantIdentity)
			}
		})
	}
}

// serverCertificate sends PostgreSQL's SSLRequest to addr, completes TLS
// trusting the CAs in casFile and returns the server's certificate.
func serverCertificate(t *testing.T, addr, casFile string) *x509.Certificate {
	t.Helper()
	pemBytes, err := os.ReadFile(casFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for block, rest := pem.Decode(pemBytes); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(c)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], 80877103)
	if _, err := c.Write(req[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, req[:1]); err != nil || req[0] != 'S' {
		t.Fatalf("SSLRequest answered %q, %v", req[0], err)
	}
	host, _, _ := net.SplitHostPort(addr)
	tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS with the proxy's address: %v", err)
	}
	return tc.ConnectionState().PeerCertificates[0]
}

// TestPluginTLSRelaysSessionsForAgents runs an all-in-one keyway, whose
// postgres plugin completes clients' TLS, beside an agent in its own
// process serving another database: a session for the agent's database
// is relayed by the plugin through the core into the agent's tunnel.
// The agent keeps no data connections, so that every session takes a
// stream of the tunnel: the path that sessions fall back to when none
// is parked.
func TestPluginTLSRelaysSessionsForAgents(t *testing.T) {
	a := startAllInOne(t)
	const remote = "remote-postgres"
	token := filepath.Join(a.dir, "agent.token")
	if err := os.WriteFile(token, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", a.cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, data := filepath.Join(a.dir, "agent.hcl"), filepath.Join(a.dir, "agent")
	body := fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = \"remote\"\n  data_connections = 0\n\n  database %q {\n    protocol = \"postgres\"\n    uri      = %q\n  }\n}\n",
		data, a.proxy, token, remote, a.pg.Addr())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, cfg, data)
	prefix := a.path("alice-remote")
	kwSign(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*",
		"--route="+remote, "--route-db-user=postgres", "--out="+prefix, "-c", a.cfg)
	var out string
	waitFor(t, 20*time.Second, "a session through the agent", func() bool {
		var err error
		out, err = pgtest.Psql(a.connString(prefix, "postgres", "postgres"), "select 'via ' || current_user")
		return err == nil
	})
	if out != "via postgres" {
		t.Fatalf("psql through the agent: %q", out)
	}
	starts := auditEvents(t, a.cfg, "--type=db.session.start")
	agentServed := false
	for _, e := range starts {
		if e.Success && e.Target == "agent/remote" {
			agentServed = true
		}
	}
	if !agentServed {
		t.Fatalf("no successful session start from agent/remote in the audit log: %+v", starts)
	}
}
