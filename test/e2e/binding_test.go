package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// startBoundAgent joins an agent named name with a token made with
// grant (tokens add flags), serving each of dbs (name → claimed env
// label) at the cluster's PostgreSQL.
func startBoundAgent(t *testing.T, a *allInOne, name string, grant []string, dbs map[string]string) *node {
	t.Helper()
	token := filepath.Join(a.dir, name+".token")
	args := append([]string{"tokens", "add", "--type=db", "--format=text", "-c", a.cfg}, grant...)
	if err := os.WriteFile(token, []byte(kw(t, args...)), 0o600); err != nil {
		t.Fatal(err)
	}
	var blocks strings.Builder
	names := make([]string, 0, len(dbs))
	for db := range dbs {
		names = append(names, db)
	}
	slices.Sort(names)
	for _, db := range names {
		fmt.Fprintf(&blocks, "  database %q {\n    protocol = \"postgres\"\n    uri      = %q\n    labels   = { env = %q }\n  }\n", db, a.pg.Addr(), dbs[db])
	}
	cfg, data := filepath.Join(a.dir, name+".hcl"), filepath.Join(a.dir, name)
	body := fmt.Sprintf("data_dir = %q\n\ndb {\n  proxy_addr = %q\n  token_file = %q\n  agent_name = %q\n\n%s}\n", data, a.proxy, token, name, blocks.String())
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return startNode(t, cfg, data)
}

// servingAgents lists the agents the proxy routes a database to, from
// db ls.
func servingAgents(t *testing.T, idFile, proxy, db string) []string {
	t.Helper()
	d, ok := dbList(t, idFile, proxy)[db]
	if !ok {
		return nil
	}
	var out []string
	for _, ag := range d.GetAgents() {
		out = append(out, ag.GetName())
	}
	slices.Sort(out)
	return out
}

// TestAgentsServeOnlyTheirGrant joins agents with tokens that grant
// some databases: an agent that registers a database outside its grant
// gets no session for it (the refusal is in the audit log and in the
// agent's log), two agents granted one name both get its sessions, and
// the labels of a stored db resource decide authorisation, not the ones
// an agent claims.
func TestAgentsServeOnlyTheirGrant(t *testing.T) {
	a := startAllInOne(t)
	alice := a.path("alice")
	kwSign(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*",
		"--route=bound-a", "--route-db-user=postgres", "--out="+alice, "-c", a.cfg)
	// db ls reads an identity file.
	lister := a.path("lister.id")
	kwSign(t, "auth", "sign", "--user=lister", "--roles=access", "--db-users=*", "--db-names=*", "--out="+lister, "-c", a.cfg)
	// connect runs psql through the proxy; its error carries what psql
	// printed.
	connect := func(prefix string) error {
		out, err := pgtest.Psql(a.connString(prefix, "postgres", "postgres"), "select 1")
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}

	// The intruder is granted bound-b, and claims bound-a besides.
	intruder := startBoundAgent(t, a, "intruder", []string{"--db-names=bound-b"}, map[string]string{"bound-a": "dev", "bound-b": "dev"})
	waitFor(t, 30*time.Second, "the intruder to serve bound-b", func() bool {
		return slices.Equal(servingAgents(t, lister, a.proxy, "bound-b"), []string{"intruder"})
	})
	if got := servingAgents(t, lister, a.proxy, "bound-a"); len(got) != 0 {
		t.Fatalf("bound-a, outside the intruder's grant, is served by %v", got)
	}
	err := connect(alice)
	if err == nil || !strings.Contains(err.Error(), "bound-a") {
		t.Fatalf("a session for bound-a with only the intruder connected: %v; want a refusal naming bound-a", err)
	}
	waitFor(t, 10*time.Second, "the refusal in the intruder's log", func() bool {
		logs := intruder.logs()
		return strings.Contains(logs, "a database outside this agent's grant was refused") &&
			strings.Contains(logs, "keyway refused the agent intruder's registration of the database bound-a")
	})
	var refused []audit.Event
	for _, e := range auditEvents(t, a.cfg) {
		if e.Event == audit.AgentRefused && e.Target == "agent/intruder" {
			refused = append(refused, e)
		}
	}
	if len(refused) != 1 || refused[0].DBService != "bound-a" || refused[0].Reason != "register" ||
		!strings.Contains(refused[0].Error, "not among the databases its join token granted (names bound-b)") {
		t.Fatalf("the intruder's refusal should be audited once, naming bound-a and the grant: %+v", refused)
	}

	// Two agents granted bound-a both get its sessions; the intruder none.
	startBoundAgent(t, a, "first", []string{"--db-names=bound-a"}, map[string]string{"bound-a": "dev"})
	startBoundAgent(t, a, "second", []string{"--db-names=bound-a,bound-c"}, map[string]string{"bound-a": "dev"})
	waitFor(t, 30*time.Second, "first and second to serve bound-a", func() bool {
		return slices.Equal(servingAgents(t, lister, a.proxy, "bound-a"), []string{"first", "second"})
	})
	for i := range 6 {
		if err := connect(alice); err != nil {
			t.Fatalf("session %d for bound-a: %v", i, err)
		}
	}
	served := map[string]int{}
	waitFor(t, 20*time.Second, "the six sessions' starts in the audit log", func() bool {
		clear(served)
		n := 0
		for _, e := range auditEvents(t, a.cfg) {
			if e.Event == audit.SessionStart && e.DBService == "bound-a" {
				served[e.Target]++
				n++
			}
		}
		return n >= 6
	})
	if served["agent/first"] == 0 || served["agent/second"] == 0 || served["agent/intruder"] != 0 {
		t.Fatalf("sessions for bound-a by agent: %v; want both granted agents and never the intruder", served)
	}

	// A token made without grant flags (the walkthrough's) grants the
	// agent's first claim: bound-d, which nobody was granted, is its
	// own; bound-a, granted to first and second, is refused, saying how
	// to grant it.
	startBoundAgent(t, a, "claimer", nil, map[string]string{"bound-a": "dev", "bound-d": "dev"})
	waitFor(t, 30*time.Second, "the claimer to serve bound-d", func() bool {
		return slices.Equal(servingAgents(t, lister, a.proxy, "bound-d"), []string{"claimer"})
	})
	if got := servingAgents(t, lister, a.proxy, "bound-a"); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("bound-a is served by %v after the claimer registered it; want first and second only", got)
	}
	waitFor(t, 10*time.Second, "the claimer's refusal of bound-a in the audit log", func() bool {
		for _, e := range auditEvents(t, a.cfg) {
			if e.Event == audit.AgentRefused && e.Target == "agent/claimer" && e.DBService == "bound-a" {
				return strings.Contains(e.Error, "--db-names=bound-a")
			}
		}
		return false
	})

	// A stored db resource's labels win over the ones its agents claim
	// (env=dev): a role that reaches only env=prod lets bob in, one that
	// reaches only env=dev keeps carol out.
	roles := a.path("roles.hcl")
	if err := os.WriteFile(roles, []byte(`role "prod-only" {
  allow {
    db_labels = { env = ["prod"] }
    db_users  = ["*"]
    db_names  = ["*"]
  }
}

role "dev-only" {
  allow {
    db_labels = { env = ["dev"] }
    db_users  = ["*"]
    db_names  = ["*"]
  }
}

db "bound-a" {
  protocol = "postgres"
  uri      = "`+a.pg.Addr()+`"
  labels   = { env = "prod" }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	kw(t, "create", "-f", roles, "-c", a.cfg)
	sign := func(user, role string) string {
		prefix := a.path(user)
		kwSign(t, "auth", "sign", "--format=files", "--user="+user, "--roles="+role, "--db-users=*", "--db-names=*",
			"--route=bound-a", "--route-db-user=postgres", "--out="+prefix, "-c", a.cfg)
		return prefix
	}
	bob, carol := sign("bob", "prod-only"), sign("carol", "dev-only")
	if err := connect(bob); err != nil {
		t.Fatalf("bob, whose role matches the stored label env=prod: %v", err)
	}
	err = connect(carol)
	if err == nil || !strings.Contains(err.Error(), "no role of carol allows") {
		t.Fatalf("carol, whose role matches only the claimed label env=dev: %v; want a denial", err)
	}
}
