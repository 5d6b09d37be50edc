package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
