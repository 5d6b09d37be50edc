package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/test/etcdtest"
)

// TestTwoAuthInstancesShareStateOnEtcd runs two auth/proxy instances on
// one three-member etcd with the same operator CAs: a user created on
// one redeems her invite through the other, and logs in through the
// first with the password set through the second; one etcd member
// stopped changes nothing.
func TestTwoAuthInstancesShareStateOnEtcd(t *testing.T) {
	etcd := etcdtest.Start(t, 3)
	blocks, pins := operatorCAs(t)
	endpoints := `["` + strings.Join(etcd.Endpoints(), `", "`) + `"]`
	var cfgs, proxies []string
	for range 2 {
		dir := t.TempDir()
		proxy := freeAddr(t)
		cfg := filepath.Join(dir, "keyway.hcl")
		body := fmt.Sprintf(`cluster_name = "e2e"
data_dir = %q

auth {}

proxy {
  listen = %q
}

state {
  backend   = "etcd"
  endpoints = %s
  prefix    = "/keyway-e2e/"
}

plugin "ca-vault" {
  config {
    backend = "file"
%s  }
}
`, filepath.Join(dir, "data"), proxy, endpoints, blocks)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		startNode(t, cfg, filepath.Join(dir, "data"))
		cfgs, proxies = append(cfgs, cfg), append(proxies, proxy)
	}
	added := kw(t, "users", "add", "carol", "--roles=access", "--db-users=app", "-c", cfgs[0])
	invite := regexp.MustCompile(`(?m)^\s+([0-9a-f]{32})$`).FindStringSubmatch(added)
	if invite == nil {
		t.Fatalf("no invite:\n%s", added)
	}
	if ls := kw(t, "users", "ls", "-c", cfgs[1]); !strings.Contains(ls, "carol") {
		t.Fatalf("the second instance does not see the user:\n%s", ls)
	}
	inviteFile := filepath.Join(t.TempDir(), "invite")
	if err := os.WriteFile(inviteFile, []byte(invite[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := kwAs(t, t.TempDir(), "a long enough password\n", "login", "--proxy="+proxies[1], "--user=carol", "--ca-pin="+pins["host"], "--invite-file="+inviteFile, "--password-stdin")
	if err != nil || !strings.Contains(out, "logged in as: carol") {
		t.Fatalf("redeeming through the second instance: %v\n%s", err, out)
	}
	etcd.StopMember(0)
	out, err = kwAs(t, t.TempDir(), "a long enough password\n", "login", "--proxy="+proxies[0], "--user=carol", "--ca-pin="+pins["host"], "--password-stdin")
	if err != nil || !strings.Contains(out, "logged in as: carol") {
		t.Fatalf("logging in through the first instance with one etcd member down: %v\n%s", err, out)
	}
}

// TestTwoAgentsServeOneDatabase runs two agents for one database; sessions
// spread over both, and when one is killed under load new sessions go to
// the other.
func TestTwoAgentsServeOneDatabase(t *testing.T) {
	dir := t.TempDir()
	proxy := freeAddr(t)
	authCfg := filepath.Join(dir, "auth.hcl")
	kw(t, "configure", "-o", authCfg, "--cluster-name=e2e", "--data-dir="+filepath.Join(dir, "auth"), "--listen="+proxy)
	startNode(t, authCfg, filepath.Join(dir, "auth"))
	c := cluster{cfg: authCfg, data: filepath.Join(dir, "auth"), dir: dir}
	pg := postgresFor(t, c)

	var agents []*node
	for _, name := range []string{"agent-a", "agent-b"} {
		tokenFile := filepath.Join(dir, name+".token")
		if err := os.WriteFile(tokenFile, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", authCfg)), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, name+".hcl")
		data := filepath.Join(dir, name)
		body := fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = %q\n\n  database %q {\n    protocol = \"postgres\"\n    uri      = %q\n  }\n}\n",
			data, proxy, tokenFile, name, dbName, pg.Addr())
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		agents = append(agents, startNode(t, cfg, data))
	}
	a := &allInOne{cluster: c, pg: pg, proxy: proxy}
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")

	// Both agents register through their tunnels; sessions then spread.
	served := func() map[string]int {
		out := map[string]int{}
		for _, e := range auditEvents(t, authCfg, "--type=db.session.start") {
			if e.Success {
				out[e.Target]++
			}
		}
		return out
	}
	stop := make(chan struct{})
	ok, _, _, wg := load(t, a, alice, 4, stop)
	defer func() { close(stop); wg.Wait() }()
	waitFor(t, 20*time.Second, "sessions through both agents", func() bool {
		s := served()
		return s["agent/agent-a"] > 0 && s["agent/agent-b"] > 0
	})

	signal(t, agents[0].cmd.Process.Pid, syscall.SIGKILL)
	killed := time.Now()
	<-agents[0].exited
	before := served()["agent/agent-b"]
	waitFor(t, 5*time.Second, "new sessions through the surviving agent", func() bool {
		return served()["agent/agent-b"] > before+10
	})
	t.Logf("sessions flow through agent-b %s after kill -9 of agent-a; %d sessions succeeded in all", time.Since(killed).Round(time.Millisecond), ok.Load())
}
