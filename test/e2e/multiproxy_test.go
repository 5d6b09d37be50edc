package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/test/etcdtest"
)

// etcdProxy is an auth+proxy process on a shared etcd.
type etcdProxy struct {
	cluster
	addr string
	node *node
}

// startEtcdProxy runs an auth+proxy process on etcd with the operator's
// authorities in blocks.
func startEtcdProxy(t *testing.T, endpoints []string, blocks string) *etcdProxy {
	t.Helper()
	dir := t.TempDir()
	p := &etcdProxy{cluster: cluster{cfg: filepath.Join(dir, "keyway.hcl"), data: filepath.Join(dir, "data"), dir: dir}, addr: freeAddr(t)}
	body := fmt.Sprintf(`cluster_name = "e2e"
data_dir = %q

auth {}

proxy {
  listen = %q
}

state {
  backend   = "etcd"
  endpoints = ["%s"]
  prefix    = "/keyway-e2e/"
}

plugin "ca-vault" {
  config {
    backend = "file"
%s  }
}
`, p.data, p.addr, strings.Join(endpoints, `", "`), blocks)
	if err := os.WriteFile(p.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p.node = startNode(t, p.cfg, p.data)
	return p
}

// tunnelUp reads the agent's metrics: whether its tunnel to proxy is up.
func tunnelUp(t *testing.T, diag, proxy string) bool {
	t.Helper()
	_, m := get(t, "http://"+diag+"/metrics")
	return strings.Contains(m, `keyway_agent_tunnel_up{proxy="`+proxy+`"} 1`)
}

// savedProxies reads the set of proxies an agent saved.
func savedProxies(t *testing.T, agentData string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(agentData, "agent", "proxies.json"))
	if err != nil {
		return nil
	}
	var f struct {
		Proxies []struct {
			Addr string `json:"addr"`
		} `json:"proxies"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("proxies.json: %v\n%s", err, b)
	}
	var out []string
	for _, p := range f.Proxies {
		out = append(out, p.Addr)
	}
	return out
}

// TestAgentTunnelsToEveryProxy runs two auth+proxy processes on a
// three-member etcd and one agent that is configured with the first
// proxy only. The agent learns the second through its tunnel and keeps a
// tunnel to each, so both route to it. When the first is killed under
// load, sessions through the second go on without a failure, a user
// whose profile names the first falls back on the second (db ls, db
// connect, proxy db), and the agent restarted while the first is still
// down comes up through the set of proxies it saved.
func TestAgentTunnelsToEveryProxy(t *testing.T) {
	etcd := etcdtest.Start(t, 3)
	blocks, pins := operatorCAs(t)
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
	agent := startNode(t, agentCfg, agentData)

	// The agent names only proxy A; it learns B and tunnels to both.
	waitFor(t, 30*time.Second, "the agent's tunnels to both proxies", func() bool {
		return tunnelUp(t, agentDiag, a.addr) && tunnelUp(t, agentDiag, b.addr)
	})
	if saved := savedProxies(t, agentData); !sameSet(saved, a.addr, b.addr) {
		t.Fatalf("the agent saved %v, want both proxies", saved)
	}

	// Alice logs in through A; her profile keeps both proxies.
	added := kw(t, "users", "add", "alice", "--roles=access", "--db-users=*", "--db-names=*", "-c", a.cfg)
	inviteFile := writeInvite(t, dir, added)
	home := filepath.Join(dir, "home")
	out, err := kwAs(t, home, "a long enough password\n", "login", "--proxy="+a.addr, "--user=alice", "--ca-pin="+pins["host"], "--invite-file="+inviteFile, "--password-stdin")
	if err != nil || !strings.Contains(out, "proxy:        "+a.addr+" (then "+b.addr+")") {
		t.Fatalf("login through A should name B as the fallback: %v\n%s", err, out)
	}
	// Through B, which the agent's configuration does not name, the
	// agent's database is listed.
	homeB := filepath.Join(dir, "homeB")
	if out, err := kwAs(t, homeB, "a long enough password\n", "login", "--proxy="+b.addr, "--user=alice", "--ca-pin="+pins["host"], "--password-stdin"); err != nil {
		t.Fatalf("login through B: %v\n%s", err, out)
	}
	if out, err := kwAs(t, homeB, "", "db", "ls"); err != nil || !strings.Contains(out, dbName) {
		t.Fatalf("db ls through B: %v\n%s", err, out)
	}

	// Load through both proxies.
	files := filepath.Join(dir, "loadbot")
	kwSign(t, "auth", "sign", "--format=files", "--user=loadbot", "--roles=access", "--db-users=*", "--db-names=*",
		"--route="+dbName, "--route-db-user=postgres", "--out="+files, "-c", a.cfg)
	viaA, viaB := &allInOne{proxy: a.addr}, &allInOne{proxy: b.addr}
	loadA, loadB := &loadRun{stop: make(chan struct{})}, &loadRun{stop: make(chan struct{})}
	okA, _, _, wgA := load(t, viaA, files, 2, loadA.stop)
	okB, failedB, errsB, wgB := load(t, viaB, files, 2, loadB.stop)
	loadA.wg, loadB.wg = wgA, wgB
	defer loadA.end()
	defer loadB.end()
	waitFor(t, 20*time.Second, "sessions through both proxies", func() bool { return okA.Load() > 10 && okB.Load() > 10 })
	if n := failedB.Load(); n > 0 {
		t.Fatalf("%d sessions through B failed before the kill: %v", n, <-errsB)
	}

	// kill -9 A under load: sessions through B go on, none fails.
	signal(t, a.node.cmd.Process.Pid, syscall.SIGKILL)
	<-a.node.exited
	killed, atKill := time.Now(), okB.Load()
	// The clients of A are gone with it; left running they would only
	// spin on refused connections.
	loadA.end()
	waitFor(t, 10*time.Second, "more sessions through B after A died", func() bool { return okB.Load() > atKill+50 })
	t.Logf("%d sessions through B in the %s after kill -9 of A", okB.Load()-atKill, time.Since(killed).Round(time.Millisecond))
	if n := failedB.Load(); n > 0 {
		t.Fatalf("%d sessions through B failed after A died, e.g. %v", n, <-errsB)
	}
	waitFor(t, 10*time.Second, "the agent to see its tunnel to A down", func() bool { return !tunnelUp(t, agentDiag, a.addr) })
	if !tunnelUp(t, agentDiag, b.addr) {
		t.Fatal("the agent's tunnel to B is down")
	}
	loadB.end()

	// Every session that succeeded was recorded before its client heard
	// of it, in the log of whichever proxy the agent's call reached, A's
	// included: its durable events were synced before it died.
	starts := map[string]int{}
	for _, cfg := range []string{a.cfg, b.cfg} {
		for _, e := range auditEvents(t, cfg, "--type=db.session.start") {
			if e.Success && e.Target == "agent/agent-1" {
				starts[e.SessionID]++
			}
		}
	}
	dups := 0
	for _, n := range starts {
		if n > 1 {
			dups++
		}
	}
	if ok := okA.Load() + okB.Load(); int64(len(starts)) < ok {
		t.Fatalf("%d sessions succeeded but only %d session starts are in the two proxies' logs", ok, len(starts))
	}
	t.Logf("%d sessions recorded across both proxies' logs, %d of them twice", len(starts), dups)

	// Alice's profile names A first; her commands fall back on B.
	if out, err := kwAs(t, home, "", "db", "ls"); err != nil || !strings.Contains(out, dbName) {
		t.Fatalf("db ls with A down: %v\n%s", err, out)
	}
	out, err = kwAs(t, home, "", "db", "connect", "--db-user=postgres", "--db-name=postgres", dbName, "--", "-Atc", "select current_user")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "postgres") {
		t.Fatalf("db connect with A down: %v\n%s", err, out)
	}

	port := startProxyDB(t, home, dbName, "--db-user=postgres")
	if out, err := pgtestPsql("host=127.0.0.1 port="+port+" user=postgres dbname=postgres sslmode=disable", "select current_user"); err != nil || out != "postgres" {
		t.Fatalf("psql through proxy db with A down: %q, %v", out, err)
	}

	// Restart the agent while A is still down: its configuration names
	// only A, so only the saved set leads it to B.
	signal(t, agent.cmd.Process.Pid, syscall.SIGKILL)
	<-agent.exited
	startNode(t, agentCfg, agentData)
	waitFor(t, 20*time.Second, "the restarted agent's tunnel to B", func() bool { return tunnelUp(t, agentDiag, b.addr) })
	if out, err := pgtestPsql(viaB.connString(files, "postgres", "postgres"), "select current_user"); err != nil || out != "postgres" {
		t.Fatalf("psql through B to the restarted agent: %q, %v", out, err)
	}

	// A's record runs out in etcd: B tells the agent, which stops
	// counting on A.
	waitFor(t, 30*time.Second, "A to leave the agent's saved set", func() bool {
		return sameSet(savedProxies(t, agentData), b.addr)
	})
}

// startProxyDB runs keyway proxy db for a user until the test ends and
// returns its local port.
func startProxyDB(t *testing.T, home string, args ...string) string {
	t.Helper()
	cmd := exec.Command(built.keyway, append([]string{"proxy", "db", "--port=0"}, args...)...)
	cmd.Env = append(os.Environ(), "KEYWAY_HOME="+home)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	m := regexp.MustCompile(`on 127\.0\.0\.1:(\d+) as`).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("proxy db printed %q (%v)", line, err)
	}
	return m[1]
}

// loadRun stops one load's clients once.
type loadRun struct {
	stop chan struct{}
	wg   *sync.WaitGroup
	once sync.Once
}

func (l *loadRun) end() {
	l.once.Do(func() {
		close(l.stop)
		l.wg.Wait()
	})
}

// sameSet reports whether got holds exactly want, in any order.
func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}
