package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proxyOnly is a proxy process without the auth role.
type proxyOnly struct {
	cfg, data, addr string
	node            *node
}

// startProxyOnly runs a proxy that joins the auth service at authAddr
// with a proxy token made on the auth host.
func startProxyOnly(t *testing.T, authCfg, authAddr, name string) *proxyOnly {
	t.Helper()
	dir := t.TempDir()
	p := &proxyOnly{cfg: filepath.Join(dir, "proxy.hcl"), data: filepath.Join(dir, "data"), addr: freeAddr(t)}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(kw(t, "tokens", "add", "--type=proxy", "--format=text", "-c", authCfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("data_dir = %q\n\nproxy {\n  listen      = %q\n  auth_addrs  = [%q]\n  token_file  = %q\n  name        = %q\n}\n",
		p.data, p.addr, authAddr, token, name)
	if err := os.WriteFile(p.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p.node = startNode(t, p.cfg, p.data)
	return p
}

// TestProxiesWithoutAuth runs the auth service alone, with a port of its
// own, two proxies without the auth role that joined with proxy tokens,
// and an agent configured with the first proxy only. The agent learns
// the second through its tunnel; a user logs in, lists databases and
// administers (once an editor) through the proxies, whose calls the
// auth service answers as hers; sessions
// run through both, each recorded in the auth service's log; keyway
// status lists both proxies with their health; a session holds through
// a restart of the auth service, while new ones are refused in
// PostgreSQL's words, and a lock ends it at once through its proxy; and kill -9 of one proxy under load
// leaves the sessions through the other unharmed, and the killed proxy
// leaves the status.
func TestProxiesWithoutAuth(t *testing.T) {
	blocks, pins := operatorCAs(t)
	dir := t.TempDir()
	auth := cluster{cfg: filepath.Join(dir, "auth.hcl"), data: filepath.Join(dir, "auth"), dir: dir}
	authAddr := freeAddr(t)
	body := fmt.Sprintf("cluster_name = \"e2e\"\ndata_dir = %q\n\nauth {\n  listen = %q\n}\n\nplugin \"ca-vault\" {\n  config {\n    backend = \"file\"\n%s  }\n}\n",
		auth.data, authAddr, blocks)
	if err := os.WriteFile(auth.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	authNode := startNode(t, auth.cfg, auth.data)
	pg := postgresFor(t, auth)

	p1 := startProxyOnly(t, auth.cfg, authAddr, "proxy-1")
	p2 := startProxyOnly(t, auth.cfg, authAddr, "proxy-2")
	for _, p := range []*proxyOnly{p1, p2} {
		if _, err := os.Stat(filepath.Join(p.data, "proxy", "host.key")); err != nil {
			t.Fatalf("the proxy keeps no identity: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(p.data, "proxy", "host.key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("the proxy's key is not a 0600 file: %v", err)
		}
	}

	tokenFile := filepath.Join(dir, "agent-token")
	if err := os.WriteFile(tokenFile, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", auth.cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	agentCfg, agentData, agentDiag := filepath.Join(dir, "agent.hcl"), filepath.Join(dir, "agent"), freeAddr(t)
	body = fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = \"agent-1\"\n\n  database %q {\n    protocol = \"postgres\"\n    uri      = %q\n  }\n}\n\ndiag {\n  listen = %q\n}\n",
		agentData, p1.addr, tokenFile, dbName, pg.Addr(), agentDiag)
	if err := os.WriteFile(agentCfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, agentCfg, agentData)
	waitFor(t, 30*time.Second, "the agent's tunnels to both proxies", func() bool {
		return tunnelUp(t, agentDiag, p1.addr) && tunnelUp(t, agentDiag, p2.addr)
	})

	// keyway status on the auth host lists both, healthy.
	waitFor(t, 10*time.Second, "both proxies in keyway status", func() bool {
		out := kw(t, "status", "-c", auth.cfg)
		return regexp.MustCompile(regexp.QuoteMeta(p1.addr)+`\s+remote\s+\S+\s+ok`).MatchString(out) &&
			regexp.MustCompile(regexp.QuoteMeta(p2.addr)+`\s+remote\s+\S+\s+ok`).MatchString(out)
	})

	// Alice redeems her invite through proxy 1 and lists the database
	// through proxy 2: the auth service answers both.
	added := kw(t, "users", "add", "alice", "--roles=access", "--db-users=*", "--db-names=*", "-c", auth.cfg)
	inviteFile := writeInvite(t, dir, added)
	home := filepath.Join(dir, "home")
	if out, err := kwAs(t, home, "a long enough password\n", "login", "--proxy="+p1.addr, "--user=alice", "--ca-pin="+pins["host"], "--invite-file="+inviteFile, "--password-stdin"); err != nil {
		t.Fatalf("login through proxy 1: %v\n%s", err, out)
	}
	homeB := filepath.Join(dir, "homeB")
	if out, err := kwAs(t, homeB, "a long enough password\n", "login", "--proxy="+p2.addr, "--user=alice", "--ca-pin="+pins["host"], "--password-stdin"); err != nil {
		t.Fatalf("login through proxy 2: %v\n%s", err, out)
	}
	if out, err := kwAs(t, homeB, "", "db", "ls"); err != nil || !strings.Contains(out, dbName) {
		t.Fatalf("db ls through proxy 2: %v\n%s", err, out)
	}
	// Admin calls through a proxy are decided as the user's own.
	if out, err := kwAs(t, homeB, "", "users", "ls"); err == nil || !strings.Contains(out, "no role of alice allows admin") {
		t.Fatalf("users ls by alice without the editor role through proxy 2: %v\n%s", err, out)
	}
	kw(t, "users", "update", "alice", "--roles=access,editor", "-c", auth.cfg)
	if out, err := kwAs(t, homeB, "a long enough password\n", "login", "--proxy="+p2.addr, "--user=alice", "--ca-pin="+pins["host"], "--password-stdin"); err != nil {
		t.Fatalf("login through proxy 2: %v\n%s", err, out)
	}
	if out, err := kwAs(t, homeB, "", "users", "ls"); err != nil || !strings.Contains(out, "access,editor") {
		t.Fatalf("users ls by an editor through proxy 2: %v\n%s", err, out)
	}
	out, err := kwAs(t, home, "", "db", "connect", "--db-user=postgres", "--db-name=postgres", dbName, "--", "-Atc", "select current_user")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "postgres") {
		t.Fatalf("db connect through proxy 1: %v\n%s", err, out)
	}
	// A wrong password through a proxy is refused with the auth
	// service's own answer.
	if out, err := kwAs(t, filepath.Join(dir, "homeC"), "not her password\n", "login", "--proxy="+p2.addr, "--user=alice", "--ca-pin="+pins["host"], "--password-stdin"); err == nil || !strings.Contains(out, "password") {
		t.Fatalf("a wrong password through proxy 2 was not refused as such: %v\n%s", err, out)
	}

	files := filepath.Join(dir, "loadbot")
	kwSign(t, "auth", "sign", "--format=files", "--user=loadbot", "--roles=access", "--db-users=*", "--db-names=*",
		"--route="+dbName, "--route-db-user=postgres", "--out="+files, "-c", auth.cfg)
	via1, via2 := &allInOne{proxy: p1.addr}, &allInOne{proxy: p2.addr}

	// A session through proxy 2 holds while the auth service restarts:
	// the proxy and the agent need it for new sessions only.
	ctx := context.Background()
	held, err := via2.pgxConnect(t, files, "postgres", "postgres")
	if err != nil {
		t.Fatalf("a session through proxy 2: %v", err)
	}
	defer func() { _ = held.Close(ctx) }()
	signal(t, authNode.cmd.Process.Pid, syscall.SIGKILL)
	<-authNode.exited
	var n int
	if err := held.QueryRow(ctx, "select 1").Scan(&n); err == nil {
		t.Logf("the held session answered while the auth service was down")
	}
	// A new session meanwhile is refused in PostgreSQL's words.
	_, err = via2.pgxConnect(t, files, "postgres", "postgres")
	if state, msg := sqlState(t, err); state != "08001" || !strings.Contains(msg, "auth service") {
		t.Fatalf("a new session while the auth service is down: %s %q", state, msg)
	}
	startNode(t, auth.cfg, auth.data)
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = held.QueryRow(qctx, "select 2").Scan(&n)
	cancel()
	if err != nil || n != 2 {
		t.Fatalf("the session through proxy 2 did not hold through the auth service's restart: %d, %v", n, err)
	}
	waitFor(t, 30*time.Second, "new sessions through both proxies after the auth service's restart", func() bool {
		for _, v := range []*allInOne{via1, via2} {
			c, err := v.pgxConnect(t, files, "postgres", "postgres")
			if err != nil {
				return false
			}
			_ = c.Close(ctx)
		}
		return true
	})

	// A lock ends the held session through proxy 2 at once: the auth
	// service's order reaches the agent through the proxy's stream.
	ended := endedWithin(t, held)
	inFlight := func() bool {
		return strings.TrimSpace(pg.SQL(t, "select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'")) == "1"
	}
	deadline := time.Now().Add(10 * time.Second)
	for !inFlight() {
		if time.Now().After(deadline) {
			t.Fatalf("the held session's query did not reach PostgreSQL:\n%s", pg.SQL(t, "select state, query from pg_stat_activity"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	locked := time.Now()
	out = kw(t, "lock", "--user=loadbot", "--message=loadbot is under review", "--ttl=1h", "-c", auth.cfg)
	expectEnded(t, "the session through proxy 2", ended, locked, 2*time.Second, "57P01", "loadbot is under review")
	m := regexp.MustCompile(`^lock (\S+):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keyway lock said %q", out)
	}
	// A new session under the lock is refused through proxy 1.
	_, err = via1.pgxConnect(t, files, "postgres", "postgres")
	if state, msg := sqlState(t, err); state != "28000" || !strings.Contains(msg, "loadbot is under review") {
		t.Fatalf("a new session under the lock through proxy 1: %s %q", state, msg)
	}
	kw(t, "unlock", m[1], "-c", auth.cfg)

	// Load through both proxies, then kill -9 proxy 1.
	load1, load2 := &loadRun{stop: make(chan struct{})}, &loadRun{stop: make(chan struct{})}
	ok1, _, _, wg1 := load(t, via1, files, 2, load1.stop)
	ok2, failed2, errs2, wg2 := load(t, via2, files, 2, load2.stop)
	load1.wg, load2.wg = wg1, wg2
	defer load1.end()
	defer load2.end()
	waitFor(t, 20*time.Second, "sessions through both proxies", func() bool { return ok1.Load() > 10 && ok2.Load() > 10 })
	if n := failed2.Load(); n > 0 {
		t.Fatalf("%d sessions through proxy 2 failed before the kill: %v", n, <-errs2)
	}
	signal(t, p1.node.cmd.Process.Pid, syscall.SIGKILL)
	<-p1.node.exited
	atKill := ok2.Load()
	load1.end()
	waitFor(t, 10*time.Second, "more sessions through proxy 2 after proxy 1 died", func() bool { return ok2.Load() > atKill+50 })
	if n := failed2.Load(); n > 0 {
		t.Fatalf("%d sessions through proxy 2 failed after proxy 1 died, e.g. %v", n, <-errs2)
	}
	load2.end()

	// Every session that succeeded was recorded in the auth service's
	// log before its client heard of it.
	starts := map[string]bool{}
	for _, e := range auditEvents(t, auth.cfg, "--type=db.session.start") {
		if e.Success && e.Target == "agent/agent-1" {
			starts[e.SessionID] = true
		}
	}
	if ok := ok1.Load() + ok2.Load(); int64(len(starts)) < ok {
		t.Fatalf("%d sessions succeeded but only %d session starts are in the auth service's log", ok, len(starts))
	}

	// Proxy 1 leaves keyway status once its announcement stops.
	waitFor(t, 30*time.Second, "proxy 1 to leave keyway status", func() bool {
		out := kw(t, "status", "-c", auth.cfg)
		return !strings.Contains(out, p1.addr) && strings.Contains(out, p2.addr)
	})
}
