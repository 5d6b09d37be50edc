package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/test/etcdtest"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// TestDynamicDatabaseAcrossAuthInstances creates and removes a db
// resource through one auth/proxy instance while the agent that serves it
// joined through another on the same etcd: the agent hears of both
// through the state backend's watch, so sessions start and stop without a
// restart or a poll; it also finds the first proxy and serves through it.
func TestDynamicDatabaseAcrossAuthInstances(t *testing.T) {
	etcd := etcdtest.Start(t, 1)
	blocks, _ := operatorCAs(t)
	endpoints := `["` + strings.Join(etcd.Endpoints(), `", "`) + `"]`
	dir := t.TempDir()
	var cfgs, proxies []string
	for _, name := range []string{"one", "two"} {
		proxy, data := freeAddr(t), filepath.Join(dir, name)
		cfg := filepath.Join(dir, name+".hcl")
		body := fmt.Sprintf(`cluster_name = "e2e"
data_dir = %q

auth {}

proxy {
  listen = %q
}

state {
  backend   = "etcd"
  endpoints = %s
  prefix    = "/keyway-dyndb/"
}

plugin "ca-vault" {
  config {
    backend = "file"
%s  }
}
`, data, proxy, endpoints, blocks)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		startNode(t, cfg, data)
		cfgs, proxies = append(cfgs, cfg), append(proxies, proxy)
	}
	pg := postgresFor(t, cluster{cfg: cfgs[0], dir: dir})

	// The agent joins and tunnels to the second instance.
	tokenFile := filepath.Join(dir, "agent.token")
	if err := os.WriteFile(tokenFile, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", cfgs[1])), 0o600); err != nil {
		t.Fatal(err)
	}
	agentCfg, agentData := filepath.Join(dir, "agent.hcl"), filepath.Join(dir, "agent")
	agentBody := fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = \"agent-b\"\n\n  resources {\n    labels = { env = [\"dev\", \"test\"] }\n  }\n}\n",
		agentData, proxies[1], tokenFile)
	if err := os.WriteFile(agentCfg, []byte(agentBody), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, agentCfg, agentData)

	// The db is created through the first instance.
	dbFile := filepath.Join(dir, "db.hcl")
	if err := os.WriteFile(dbFile, []byte(fmt.Sprintf("db \"shared-postgres\" {\n  protocol = \"postgres\"\n  uri      = %q\n  labels   = { env = \"test\" }\n}\n", pg.Addr())), 0o600); err != nil {
		t.Fatal(err)
	}
	kw(t, "create", "-f", dbFile, "-c", cfgs[0])

	alice := filepath.Join(dir, "alice.id")
	kwSign(t, "auth", "sign", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*", "--out="+alice, "-c", cfgs[0])
	waitFor(t, 20*time.Second, "the second proxy to list the db healthy", func() bool {
		return dbList(t, alice, proxies[1])["shared-postgres"].GetStatus() == "healthy"
	})
	// The agent learns of the first proxy from the second and tunnels to
	// it too, so the first lists the db healthy as well.
	waitFor(t, 20*time.Second, "the first proxy to list the db healthy", func() bool {
		return dbList(t, alice, proxies[0])["shared-postgres"].GetStatus() == "healthy"
	})
	prefix := filepath.Join(dir, "alice")
	kwSign(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*", "--route=shared-postgres", "--route-db-user=postgres", "--out="+prefix, "-c", cfgs[0])
	for i, p := range proxies {
		if out, err := pgtest.Psql((&allInOne{proxy: p}).connString(prefix, "postgres", "postgres"), "select current_user"); err != nil || out != "postgres" {
			t.Fatalf("psql through proxy %d: %q, %v", i+1, out, err)
		}
	}
	through := &allInOne{proxy: proxies[1]}

	// Removed through the first instance, gone from the second.
	kw(t, "rm", "db/shared-postgres", "-c", cfgs[0])
	waitFor(t, 10*time.Second, "the second proxy to drop the db", func() bool {
		_, listed := dbList(t, alice, proxies[1])["shared-postgres"]
		return !listed
	})
	_, err := through.pgxConnect(t, prefix, "postgres", "postgres")
	if err == nil {
		t.Fatal("connected to a removed db")
	}
	if state, _ := sqlState(t, err); state != "3D000" {
		t.Fatalf("after rm through the other instance: %v", err)
	}
}
