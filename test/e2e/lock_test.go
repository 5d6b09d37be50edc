package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyway-dev/keyway/test/etcdtest"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// endedWithin runs a long query on conn and returns the error that ends
// it and how long after start it came.
func endedWithin(t *testing.T, conn *pgx.Conn) <-chan error {
	t.Helper()
	out := make(chan error, 1)
	go func() {
		_, err := conn.Exec(context.Background(), "select pg_sleep(60)")
		out <- err
	}()
	return out
}

// expectEnded waits for a session's error and checks its SQLSTATE and
// message, and that it came within limit of since.
func expectEnded(t *testing.T, what string, ended <-chan error, since time.Time, limit time.Duration, state, msg string) {
	t.Helper()
	select {
	case err := <-ended:
		took := time.Since(since)
		if err == nil {
			t.Fatalf("%s: the query finished instead of the session ending", what)
		}
		got, text := sqlState(t, err)
		if got != state || !strings.Contains(text, msg) {
			t.Fatalf("%s: ended with %s %q, want %s with %q", what, got, text, state, msg)
		}
		if took > limit {
			t.Fatalf("%s: the session ended %s after, want within %s", what, took, limit)
		}
		t.Logf("%s: ended %s after with %s %q", what, took.Round(time.Millisecond), got, text)
	case <-time.After(time.Until(since.Add(limit)) + 10*time.Second):
		t.Fatalf("%s: the session did not end", what)
	}
}

// startRemoteAgent joins an agent named remote serving the test's
// PostgreSQL as remote-postgres, and returns its files' prefix for alice.
func startRemoteAgent(t *testing.T, a *allInOne) {
	t.Helper()
	token := filepath.Join(a.dir, "agent.token")
	if err := os.WriteFile(token, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", a.cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, data := filepath.Join(a.dir, "agent.hcl"), filepath.Join(a.dir, "agent")
	body := fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = \"remote\"\n\n  database \"remote-postgres\" {\n    protocol = \"postgres\"\n    uri      = %q\n  }\n}\n",
		data, a.proxy, token, a.pg.Addr())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, cfg, data)
}

var lockID = regexp.MustCompile(`lock ([0-9a-f]+):`)

// TestLocksEndAndRefuseSessions locks a user while it has a session on
// this process's database and one through a separate agent: both end
// within 2 s with 57P01 and the lock's message, new sessions are refused
// until unlock, a lock with a TTL lapses by itself, and bad locks are
// refused with a sentence. Removing the user ends its session too.
func TestLocksEndAndRefuseSessions(t *testing.T) {
	a := startAllInOne(t)
	startRemoteAgent(t, a)
	kw(t, "users", "add", "alice", "--roles=access,contractors", "--db-users=*", "--db-names=*", "-c", a.cfg)
	local := a.userFiles(t, "alice", "--roles=access,contractors", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	remote := a.path("alice-remote")
	kw(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access,contractors", "--db-users=*", "--db-names=*",
		"--route=remote-postgres", "--route-db-user=postgres", "--out="+remote, "-c", a.cfg)
	waitFor(t, 20*time.Second, "a session through the agent", func() bool {
		_, err := pgtest.Psql(a.connString(remote, "postgres", "postgres"), "select 1")
		return err == nil
	})

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"lock"}, "one of --user, --role, --db or --agent"},
		{[]string{"lock", "--user=nobody"}, "nobody"},
		{[]string{"lock", "--role=no-such-role"}, "role no-such-role does not exist"},
		{[]string{"lock", "--user=alice", "--ttl=-1h"}, "not in the future"},
		{[]string{"unlock", "0123"}, "no lock has the id 0123"},
	} {
		if out := kwFails(t, append(bad.args, "-c", a.cfg)...); !strings.Contains(out, bad.want) {
			t.Fatalf("keyway %s said %q, want %q", strings.Join(bad.args, " "), out, bad.want)
		}
	}

	connect := func(prefix string) *pgx.Conn {
		t.Helper()
		conn, err := a.pgxConnect(t, prefix, "postgres", "postgres")
		if err != nil {
			t.Fatalf("connecting with %s: %v", filepath.Base(prefix), err)
		}
		return conn
	}
	localEnded := endedWithin(t, connect(local))
	remoteEnded := endedWithin(t, connect(remote))
	time.Sleep(200 * time.Millisecond) // both queries are in flight
	locked := time.Now()
	out := kw(t, "lock", "--user=alice", "--message=incident 42: call security", "-c", a.cfg)
	m := lockID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keyway lock said %q", out)
	}
	expectEnded(t, "this process's session", localEnded, locked, 2*time.Second, "57P01", "incident 42: call security")
	expectEnded(t, "the agent's session", remoteEnded, locked, 2*time.Second, "57P01", "incident 42: call security")

	if ls := kw(t, "locks", "ls", "-c", a.cfg); !strings.Contains(ls, m[1]) || !strings.Contains(ls, "user alice") {
		t.Fatalf("locks ls: %s", ls)
	}
	for _, prefix := range []string{local, remote} {
		_, err := a.pgxConnect(t, prefix, "postgres", "postgres")
		if state, msg := sqlState(t, err); state != "28000" || !strings.Contains(msg, "incident 42") {
			t.Fatalf("a new session under the lock: %s %q", state, msg)
		}
	}
	// Refused sessions never reach the database: PostgreSQL logged no
	// connection that began and broke off.
	if log, err := a.pg.Log(); err != nil {
		t.Fatal(err)
	} else if strings.Contains(log, "could not accept SSL connection") || strings.Contains(log, "incomplete startup packet") {
		t.Fatalf("PostgreSQL saw a refused session's connection:\n%s", log)
	}
	kw(t, "unlock", m[1], "-c", a.cfg)
	_ = connect(local).Close(context.Background())

	kw(t, "lock", "--user=alice", "--ttl=3s", "-c", a.cfg)
	if _, err := a.pgxConnect(t, local, "postgres", "postgres"); err == nil {
		t.Fatal("a session was allowed under a lock with a TTL")
	}
	waitFor(t, 20*time.Second, "the lock's TTL to lapse", func() bool {
		conn, err := a.pgxConnect(t, local, "postgres", "postgres")
		if err == nil {
			_ = conn.Close(context.Background())
		}
		return err == nil
	})

	// Locks of a database, an agent and a role refuse what they cover
	// and nothing else.
	for _, tt := range []struct {
		flag             string
		refused, allowed string
	}{
		{"--db=remote-postgres", remote, local},
		{"--agent=remote", remote, local},
		{"--role=access", local, ""},
	} {
		m := lockID.FindStringSubmatch(kw(t, "lock", tt.flag, "--message=maintenance", "-c", a.cfg))
		if m == nil {
			t.Fatalf("lock %s printed no id", tt.flag)
		}
		_, err := a.pgxConnect(t, tt.refused, "postgres", "postgres")
		if state, msg := sqlState(t, err); state != "28000" || !strings.Contains(msg, "maintenance") {
			t.Fatalf("lock %s: a covered session got %s %q", tt.flag, state, msg)
		}
		if tt.allowed != "" {
			_ = connect(tt.allowed).Close(context.Background())
		}
		kw(t, "unlock", m[1], "-c", a.cfg)
	}

	// A role the session relies on changes: it is authorised again.
	ended := endedWithin(t, connect(remote))
	time.Sleep(200 * time.Millisecond)
	roleFile := a.path("contractors.hcl")
	if err := os.WriteFile(roleFile, []byte("role \"contractors\" {\n  deny {\n    db_users = [\"postgres\"]\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	kw(t, "create", "-f", roleFile, "-c", a.cfg)
	expectEnded(t, "a session a new deny rule covers", ended, changed, 2*time.Second, "57P01", "contractors")
	kw(t, "rm", "role/contractors", "-c", a.cfg)

	ended = endedWithin(t, connect(remote))
	time.Sleep(200 * time.Millisecond)
	removed := time.Now()
	kw(t, "users", "rm", "alice", "-c", a.cfg)
	expectEnded(t, "a removed user's session", ended, removed, 2*time.Second, "57P01", "user alice was removed")

	events := auditEvents(t, a.cfg, "--type=lock.create")
	if len(events) < 2 {
		t.Fatalf("lock.create events: %d", len(events))
	}
}

// TestSessionEndsWithItsCertificate opens a session with a user
// certificate valid for 20 s: it ends at expiry with keyway's sentence.
func TestSessionEndsWithItsCertificate(t *testing.T) {
	a := startAllInOne(t)
	prefix := a.userFiles(t, "bob", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres", "--ttl=20s")
	conn, err := a.pgxConnect(t, prefix, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	crt, err := os.ReadFile(prefix + ".crt")
	if err != nil {
		t.Fatal(err)
	}
	notAfter := certNotAfter(t, crt)
	ended := endedWithin(t, conn)
	wait := time.Until(notAfter)
	expectEnded(t, "a session past its certificate", ended, notAfter, 2*time.Second, "28000", "expired")
	if wait < 5*time.Second {
		t.Fatalf("the certificate had only %s left when the session started", wait)
	}
}

// certNotAfter reads the expiry of the first certificate in a PEM file.
func certNotAfter(t *testing.T, pemText []byte) time.Time {
	t.Helper()
	b, _ := pem.Decode(pemText)
	if b == nil {
		t.Fatal("no PEM block in the certificate file")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.NotAfter
}

// TestLockReachesASecondProxy locks a user on one proxy of two that
// share etcd: the user's session that the other proxy routed to an
// agent ends within 2 s with the lock's message, and new sessions there
// are refused.
func TestLockReachesASecondProxy(t *testing.T) {
	etcd := etcdtest.Start(t, 1)
	blocks, _ := operatorCAs(t)
	a := startEtcdProxy(t, etcd.Endpoints(), blocks)
	b := startEtcdProxy(t, etcd.Endpoints(), blocks)
	pg := postgresFor(t, a.cluster)

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", a.cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	agentCfg, agentData, agentDiag := filepath.Join(dir, "agent.hcl"), filepath.Join(dir, "agent"), freeAddr(t)
	body := fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = \"agent-1\"\n\n  database %q {\n    protocol = \"postgres\"\n    uri      = %q\n  }\n}\n\ndiag {\n  listen = %q\n}\n",
		agentData, a.addr, tokenFile, dbName, pg.Addr(), agentDiag)
	if err := os.WriteFile(agentCfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, agentCfg, agentData)
	waitFor(t, 30*time.Second, "the agent's tunnels to both proxies", func() bool {
		return tunnelUp(t, agentDiag, a.addr) && tunnelUp(t, agentDiag, b.addr)
	})

	kw(t, "users", "add", "alice", "--roles=access", "--db-users=*", "--db-names=*", "-c", a.cfg)
	prefix := filepath.Join(dir, "alice")
	kw(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*",
		"--route="+dbName, "--route-db-user=postgres", "--out="+prefix, "-c", a.cfg)
	host, port, _ := strings.Cut(b.addr, ":")
	connB := fmt.Sprintf("host=%s port=%s user=postgres dbname=postgres sslmode=verify-full sslrootcert=%s.cas sslcert=%s.crt sslkey=%s.key connect_timeout=10",
		host, port, prefix, prefix, prefix)
	var conn *pgx.Conn
	waitFor(t, 20*time.Second, "a session through proxy B", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		conn, err = pgx.Connect(ctx, connB)
		return err == nil
	})
	ended := endedWithin(t, conn)
	time.Sleep(200 * time.Millisecond)
	locked := time.Now()
	kw(t, "lock", "--user=alice", "--message=offboarding", "-c", a.cfg)
	expectEnded(t, "proxy B's session", ended, locked, 2*time.Second, "57P01", "offboarding")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pgx.Connect(ctx, connB)
	if state, msg := sqlState(t, err); state != "28000" || !strings.Contains(msg, "offboarding") {
		t.Fatalf("a new session through proxy B under the lock: %s %q", state, msg)
	}
}

// TestIdleSessionEnds gives a role idle_timeout = "3s": a session that
// runs a statement longer than that keeps going, and one left quiet
// ends with 57P05 and keyway's sentence.
func TestIdleSessionEnds(t *testing.T) {
	a := startAllInOne(t)
	roleFile := a.path("quick.hcl")
	role := "role \"quick\" {\n  allow {\n    db_labels = { \"*\" = [\"*\"] }\n    db_users  = [\"*\"]\n    db_names  = [\"*\"]\n  }\n  options {\n    idle_timeout = \"3s\"\n  }\n}\n"
	if err := os.WriteFile(roleFile, []byte(role), 0o600); err != nil {
		t.Fatal(err)
	}
	kw(t, "create", "-f", roleFile, "-c", a.cfg)
	prefix := a.userFiles(t, "carol", "--roles=quick", "--route-db-user=postgres")
	conn, err := a.pgxConnect(t, prefix, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "select pg_sleep(5)"); err != nil {
		t.Fatalf("a statement longer than idle_timeout: %v", err)
	}
	quiet := time.Now()
	// The session's FATAL arrives unasked; pgx reads it at the next
	// statement, sent once the timeout has passed.
	time.Sleep(5 * time.Second)
	_, err = conn.Exec(context.Background(), "select 1")
	if err == nil {
		t.Fatalf("a session quiet for %s was not ended", time.Since(quiet).Round(time.Second))
	}
	if state, msg := sqlState(t, err); state != "57P05" || !strings.Contains(msg, "idle_timeout") {
		t.Fatalf("an idle session ended with %s %q", state, msg)
	}
}

// TestLockRefusesLoginAndDBLogin locks a user who has logged in: a new
// login and a db login are refused with the lock's message, and both
// work again after unlock.
func TestLockRefusesLoginAndDBLogin(t *testing.T) {
	a := startAllInOne(t)
	added := kw(t, "users", "add", "dana", "--roles=access", "--db-users=*", "--db-names=*", "-c", a.cfg)
	m := regexp.MustCompile(`(?m)^\s+([0-9a-f]{32})$`).FindStringSubmatch(added)
	if m == nil {
		t.Fatalf("no invite for dana:\n%s", added)
	}
	invite := a.path("dana.invite")
	if err := os.WriteFile(invite, []byte(m[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	pin := pinOf(kw(t, "status", "-c", a.cfg), "host")
	home := t.TempDir()
	const password = "correct horse battery\n"
	login := func() (string, error) {
		return kwAs(t, home, password, "login", "--proxy="+a.proxy, "--user=dana", "--ca-pin="+pin, "--password-stdin")
	}
	if out, err := kwAs(t, home, password, "login", "--proxy="+a.proxy, "--user=dana", "--ca-pin="+pin, "--invite-file="+invite, "--password-stdin"); err != nil {
		t.Fatalf("first login: %v\n%s", err, out)
	}
	dbLogin := func() (string, error) { return kwAs(t, home, "", "db", "login", dbName, "--db-user=postgres") }

	locked := kw(t, "lock", "--user=dana", "--message=account under review", "-c", a.cfg)
	m = regexp.MustCompile(`^lock (\S+):`).FindStringSubmatch(locked)
	if m == nil {
		t.Fatalf("lock printed no id:\n%s", locked)
	}
	id := m[1]
	for _, step := range []struct {
		name string
		run  func() (string, error)
	}{{"login", login}, {"db login", dbLogin}} {
		out, err := step.run()
		if err == nil || !strings.Contains(out, "account under review") {
			t.Fatalf("%s under a lock: %v\n%s\nwant a refusal with the lock's message", step.name, err, out)
		}
	}
	if locks := kw(t, "locks", "ls", "-c", a.cfg); !strings.Contains(locks, id) || !strings.Contains(locks, "account under review") {
		t.Fatalf("locks ls does not show the lock %s:\n%s", id, locks)
	}
	kw(t, "unlock", id, "-c", a.cfg)
	if out, err := login(); err != nil {
		t.Fatalf("login after unlock: %v\n%s", err, out)
	}
	if out, err := dbLogin(); err != nil {
		t.Fatalf("db login after unlock: %v\n%s", err, out)
	}
}

// TestMaxConnectionsRefusesBeyondTheLimit gives a user a role with
// options { max_connections = 2 }: a third session at once is refused
// with 53300 and a sentence naming the role, and once one closes the
// next connects.
func TestMaxConnectionsRefusesBeyondTheLimit(t *testing.T) {
	a := startAllInOne(t)
	roleFile := a.path("pair.hcl")
	role := "role \"pair\" {\n  allow {\n    db_labels = { \"*\" = [\"*\"] }\n    db_users  = [\"*\"]\n    db_names  = [\"*\"]\n  }\n  options {\n    max_connections = 2\n  }\n}\n"
	if err := os.WriteFile(roleFile, []byte(role), 0o600); err != nil {
		t.Fatal(err)
	}
	kw(t, "create", "-f", roleFile, "-c", a.cfg)
	prefix := a.userFiles(t, "erin", "--roles=pair", "--route-db-user=postgres")
	var open []*pgx.Conn
	for i := range 2 {
		conn, err := a.pgxConnect(t, prefix, "postgres", "postgres")
		if err != nil {
			t.Fatalf("session %d of 2: %v", i+1, err)
		}
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		open = append(open, conn)
	}
	_, err := a.pgxConnect(t, prefix, "postgres", "postgres")
	if err == nil {
		t.Fatal("a third session was allowed under max_connections = 2")
	}
	if state, msg := sqlState(t, err); state != "53300" || !strings.Contains(msg, "max_connections of the role pair") {
		t.Fatalf("the third session was refused with %s %q; want 53300 naming the role", state, msg)
	}
	if err := open[0].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The plugin sees the close a moment after the client makes it: a
	// refusal for the limit may come meanwhile, any other error not.
	var conn *pgx.Conn
	waitFor(t, 5*time.Second, "a session after one of two closed", func() bool {
		conn, err = a.pgxConnect(t, prefix, "postgres", "postgres")
		if err != nil {
			if state, _ := sqlState(t, err); state != "53300" {
				t.Fatalf("a session after one of two closed: %v", err)
			}
		}
		return err == nil
	})
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(context.Background(), "select 1"); err != nil {
		t.Fatal(err)
	}
}
