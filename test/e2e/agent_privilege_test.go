package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/agent"
	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// TestAgentHoldsOnlyItsSessions runs an all-in-one keyway beside a
// joined agent in its own process. A legitimate session through the
// agent gets its db-client certificate recorded as cert.issued naming
// the session. Then, holding the agent's host certificate and key, the
// test speaks the tunnel protocol itself, as a stolen identity would:
// a db-client certificate for postgres with no session, or for a made-up
// or ended session, a decision with no session, and a made-up auth.login
// for another user are all refused, and nothing made up reaches the
// audit log. Last, a join under the agent's taken name is refused and
// leaves the token usable under another name, and keyway rm agent/NAME
// frees the name.
func TestAgentHoldsOnlyItsSessions(t *testing.T) {
	a := startAllInOne(t)
	const remote = "remote-postgres"
	cfg, data := filepath.Join(a.dir, "agent.hcl"), filepath.Join(a.dir, "agent")
	token := newJoinToken(t, a, "agent.token")
	body := "data_dir = \"" + data + "\"\n\ndb {\n  proxy_addr = \"" + a.proxy + "\"\n  token_file = \"" + token +
		"\"\n  agent_name = \"remote\"\n\n  database \"" + remote + "\" {\n    protocol = \"postgres\"\n    uri      = \"" + a.pg.Addr() + "\"\n  }\n}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, cfg, data)
	prefix := a.path("alice-remote")
	kwSign(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*",
		"--route="+remote, "--route-db-user=postgres", "--out="+prefix, "-c", a.cfg)
	var out string
	waitFor(t, 30*time.Second, "a session through the agent", func() bool {
		var err error
		out, err = pgtest.Psql(a.connString(prefix, "postgres", "postgres"), "select 'via ' || current_user")
		return err == nil
	})
	if out != "via postgres" {
		t.Fatalf("psql through the agent: %q", out)
	}

	// The certificate the agent got names the session it served.
	var issued audit.Event
	waitFor(t, 10*time.Second, "the agent's db-client certificate in the audit log", func() bool {
		for _, e := range auditEvents(t, a.cfg, "--type=cert.issued") {
			if e.Code == "TC004" && e.Success && strings.Contains(e.Reason, "agent remote") {
				issued = e
				return true
			}
		}
		return false
	})
	if issued.DBUser != "postgres" || issued.User != "alice" || issued.SessionID == "" || !strings.Contains(issued.Reason, "database "+remote) {
		t.Fatalf("cert.issued of the agent's certificate: %+v; want db user postgres, user alice, the session, and the agent", issued)
	}
	servedByAgent := false
	for _, e := range auditEvents(t, a.cfg, "--type=db.session.start") {
		if e.SessionID == issued.SessionID && e.Success && e.Target == "agent/remote" && e.User == "alice" {
			servedByAgent = true
		}
	}
	if !servedByAgent {
		t.Fatalf("the certificate's session %s is not a session start of alice served by agent/remote", issued.SessionID)
	}

	// The all-in-one process records the certificates it signs for its
	// own sessions in the same way.
	local := a.userFiles(t, "alice-local", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	if out, err := pgtest.Psql(a.connString(local, "postgres", "postgres"), "select 1"); err != nil || out != "1" {
		t.Fatalf("psql to the all-in-one's own database: %q, %v", out, err)
	}
	var localIssued audit.Event
	waitFor(t, 10*time.Second, "the all-in-one's db-client certificate in the audit log", func() bool {
		for _, e := range auditEvents(t, a.cfg, "--type=cert.issued") {
			if e.Code == "TC004" && e.Success && strings.Contains(e.Reason, "this process") && strings.Contains(e.Reason, "database "+dbName) {
				localIssued = e
				return true
			}
		}
		return false
	})
	localStart := false
	for _, e := range auditEvents(t, a.cfg, "--type=db.session.start", "--db="+dbName) {
		localStart = localStart || e.SessionID == localIssued.SessionID && e.Success
	}
	if !localStart || localIssued.SessionID == "" {
		t.Fatalf("the all-in-one's cert.issued %+v names no session of %s", localIssued, dbName)
	}

	// The agent's own identity, used by hand.
	api := stolenTunnel(t, a.proxy, data)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := authority.NewKey("")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := authority.NewCSR(key, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"", "made-up-session", issued.SessionID} {
		_, err := api.SignDBClient(ctx, &apiv1.SignDBClientRequest{SessionId: sid, Database: remote, DbUser: "postgres", Csr: csr})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("SignDBClient for postgres with session %q: %v; want PermissionDenied", sid, err)
		}
		t.Logf("SignDBClient with session %q: %s", sid, status.Convert(err).Message())
	}
	_, err = api.Authorize(ctx, &apiv1.AuthorizeRequest{Database: remote, DbUser: "postgres"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Authorize with no session: %v; want PermissionDenied", err)
	}
	forged := []byte(`{"event":"auth.login","code":"T1000","success":true,"user":"mallory-made-up","time":"2026-01-01T00:00:00Z"}`)
	_, err = api.Audit(ctx, &apiv1.AuditRequest{Durable: true, EventsJson: [][]byte{forged}})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "auth.login") {
		t.Fatalf("Audit of a made-up auth.login: %v; want PermissionDenied naming the event", err)
	}
	mixed := []byte(`{"event":"db.session.query","sid":"` + issued.SessionID + `","user":"bob-made-up","db_service":"` + remote + `","query":"made up"}`)
	_, err = api.Audit(ctx, &apiv1.AuditRequest{EventsJson: [][]byte{mixed}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Audit of a query under another user in the agent's session: %v; want PermissionDenied", err)
	}
	// The refusals are recorded (throttled to one a minute per tunnel);
	// nothing made up is.
	waitFor(t, 10*time.Second, "the agent's refusal in the audit log", func() bool {
		for _, e := range auditEvents(t, a.cfg, "--type=cert.issued") {
			if e.Code == "TC004" && !e.Success && strings.Contains(e.Error, "named no session") {
				return true
			}
		}
		return false
	})
	for _, e := range auditEvents(t, a.cfg) {
		if e.User == "mallory-made-up" || e.User == "bob-made-up" || e.Query == "made up" {
			t.Fatalf("a made-up event reached the audit log: %+v", e)
		}
	}

	// A join under the taken name is refused, and keeps the token.
	second := newJoinToken(t, a, "second.token")
	_, err = agent.Join(ctx, a.proxy, second, filepath.Join(a.dir, "impostor"), "remote")
	if err == nil || !strings.Contains(err.Error(), "keyway rm agent/remote") {
		t.Fatalf("a join as remote, taken: %v; want a refusal saying what to do", err)
	}
	if _, err := agent.Join(ctx, a.proxy, second, filepath.Join(a.dir, "other"), "remote-2"); err != nil {
		t.Fatalf("a join under a free name with the token a refused join left: %v", err)
	}
	refusedJoin := false
	for _, e := range auditEvents(t, a.cfg, "--type=cert.issued") {
		if e.Code == "TC001" && !e.Success && e.Target == "host/remote" && strings.Contains(e.Error, "holds a certificate") {
			refusedJoin = true
		}
	}
	if !refusedJoin {
		t.Fatal("the refused join is not in the audit log")
	}
	kw(t, "rm", "agent/remote", "-c", a.cfg)
	if _, err := agent.Join(ctx, a.proxy, newJoinToken(t, a, "third.token"), filepath.Join(a.dir, "replacement"), "remote"); err != nil {
		t.Fatalf("a join as remote after keyway rm agent/remote: %v", err)
	}
}

// newJoinToken writes a new join token to a 0600 file in the cluster's
// directory.
func newJoinToken(t *testing.T, a *allInOne, name string) string {
	t.Helper()
	path := filepath.Join(a.dir, name)
	if err := os.WriteFile(path, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", a.cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// stolenTunnel dials the proxy's tunnel protocol with the host
// certificate and key in an agent's data directory, as the agent does
// (TLS with ALPN keyway-tunnel, then gRPC over a yamux stream), and
// returns the Agent API client.
func stolenTunnel(t *testing.T, proxyAddr, dataDir string) apiv1.AgentClient {
	t.Helper()
	id, found, err := agent.LoadIdentity(dataDir)
	if err != nil || !found {
		t.Fatalf("the agent's identity in %s: found %v, %v", dataDir, found, err)
	}
	raw, err := tls.Dial("tcp", proxyAddr, &tls.Config{
		Certificates: []tls.Certificate{id.Cert}, NextProtos: []string{tunnel.ALPNTunnel},
		InsecureSkipVerify: true, // this test is about what the proxy grants the agent
	})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tunnel.Client(raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	conn, err := grpc.NewClient("passthrough:///proxy",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return sess.Open() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return apiv1.NewAgentClient(conn)
}
