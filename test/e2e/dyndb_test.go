package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
	"github.com/keyway-dev/keyway/test/pgtest"
)

// dbList runs keyway db ls --format=json as the identity in idFile.
func dbList(t *testing.T, idFile, proxy string) map[string]*apiv1.Database {
	t.Helper()
	out := kw(t, "-i", idFile, "--proxy", proxy, "db", "ls", "--format=json")
	var dbs []*apiv1.Database
	if err := json.Unmarshal([]byte(out), &dbs); err != nil {
		t.Fatalf("db ls printed %q: %v", out, err)
	}
	m := map[string]*apiv1.Database{}
	for _, db := range dbs {
		m[db.GetName()] = db
	}
	return m
}

// TestDynamicDatabaseByLabel registers databases with keyway create -f
// and no change to the agent: an agent whose resources selector matches
// a db's labels serves it (db ls shows it healthy, psql and pgx reach the
// real PostgreSQL through keyway); a db with other labels is not served;
// a db pointing at a dead address is listed unhealthy with the reason; a
// db named like one of the agent's database blocks is refused with a
// log line; keyway rm db/NAME stops it, and new connections get SQLSTATE
// 3D000.
func TestDynamicDatabaseByLabel(t *testing.T) {
	dir := t.TempDir()
	proxy := freeAddr(t)
	authCfg := filepath.Join(dir, "auth.hcl")
	kw(t, "configure", "-o", authCfg, "--cluster-name=e2e", "--data-dir="+filepath.Join(dir, "auth"), "--listen="+proxy)
	startNode(t, authCfg, filepath.Join(dir, "auth"))
	c := cluster{cfg: authCfg, data: filepath.Join(dir, "auth"), dir: dir}
	pg := postgresFor(t, c)
	dead := freeAddr(t) // nothing listens there

	tokenFile := filepath.Join(dir, "agent.token")
	if err := os.WriteFile(tokenFile, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=*", "--format=text", "-c", authCfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	agentCfg, agentData := filepath.Join(dir, "agent.hcl"), filepath.Join(dir, "agent")
	kw(t, "db", "configure", "create", "-o", agentCfg, "--token="+tokenFile, "--proxy="+proxy, "--data-dir="+agentData,
		"--name=static-postgres", "--uri="+pg.Addr(), "--resources=env=dev")
	generated := string(mustRead(t, agentCfg))
	if !strings.Contains(generated, "resources {\n    labels = {\n      env = \"dev\"") {
		t.Fatalf("db configure create --resources wrote:\n%s", generated)
	}
	// A fixed agent name, for the listing below.
	named := strings.Replace(generated, "db {\n", "db {\n  agent_name = \"agent-a\"\n", 1)
	if err := os.WriteFile(agentCfg, []byte(named), 0o600); err != nil {
		t.Fatal(err)
	}
	agentNode := startNode(t, agentCfg, agentData)

	alice := filepath.Join(dir, "alice.id")
	kwSign(t, "auth", "sign", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*", "--out="+alice, "-c", authCfg)
	editor := filepath.Join(dir, "editor.id")
	kwSign(t, "auth", "sign", "--user=eve", "--roles=editor", "--out="+editor, "-c", authCfg)

	dbFile := filepath.Join(dir, "db.hcl")
	body := fmt.Sprintf(`db "dyn-postgres" {
  description = "registered at run time"
  protocol    = "postgres"
  uri         = %q
  labels      = { env = "dev", team = "shop" }
}

db "prod-postgres" {
  protocol = "postgres"
  uri      = %q
  labels   = { env = "prod" }
}

db "down-postgres" {
  protocol = "postgres"
  uri      = %q
  labels   = { env = "dev" }
}

db "static-postgres" {
  protocol = "postgres"
  uri      = %q
  labels   = { env = "dev" }
}

db "misnamed-postgres" {
  protocol    = "postgres"
  uri         = %q
  labels      = { env = "dev" }
  server_name = "wrong.example"
}
`, pg.Addr(), pg.Addr(), dead, dead, pg.Addr())
	if err := os.WriteFile(dbFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out := kw(t, "create", "-f", dbFile, "-c", authCfg)
	for _, name := range []string{"dyn-postgres", "prod-postgres", "down-postgres", "static-postgres", "misnamed-postgres"} {
		if !strings.Contains(out, "db "+name+" saved") {
			t.Fatalf("create said:\n%s", out)
		}
	}
	if got := kw(t, "get", "dbs", "dyn-postgres", "-c", authCfg); !strings.Contains(got, `"uri": "`+pg.Addr()+`"`) || !strings.Contains(got, `"team": "shop"`) {
		t.Fatalf("get dbs dyn-postgres:\n%s", got)
	}

	var dbs map[string]*apiv1.Database
	waitFor(t, 20*time.Second, "db ls to show the db resources' health", func() bool {
		dbs = dbList(t, alice, proxy)
		return dbs["dyn-postgres"].GetStatus() == "healthy" && dbs["down-postgres"].GetStatus() == "unhealthy" && dbs["misnamed-postgres"].GetStatus() == "unhealthy"
	})
	// The check verifies the server's certificate as a session would.
	if d := dbs["misnamed-postgres"].GetHealthDetail(); !strings.Contains(d, "TLS with the server") || !strings.Contains(d, "wanted to match wrong.example") {
		t.Fatalf("misnamed-postgres health: %q", d)
	}
	if a := dbs["dyn-postgres"].GetAgents(); len(a) != 1 || a[0].GetName() != "agent-a" || !a[0].GetHealthy() {
		t.Fatalf("dyn-postgres agents: %v", a)
	}
	if d := dbs["down-postgres"].GetHealthDetail(); !strings.Contains(d, "agent-a: ") || !strings.Contains(d, "connection refused") {
		t.Fatalf("down-postgres health: %q", d)
	}
	if st := dbs["prod-postgres"].GetStatus(); st != "no_agent" {
		t.Fatalf("prod-postgres, whose labels no agent selects: status %q", st)
	}
	// The agent serves its own static-postgres block, but the cluster
	// labels it as the stored db resource of that name says (env=dev),
	// never as the agent claims (no labels): authorisation reads those.
	if st := dbs["static-postgres"]; st.GetStatus() != "healthy" || st.GetLabels()["env"] != "dev" || len(st.GetAgents()) != 1 {
		t.Fatalf("static-postgres is served by the agent with the stored resource's labels: %+v", st)
	}
	table := kw(t, "-i", alice, "--proxy", proxy, "db", "ls")
	for _, want := range []string{"HEALTH", "dyn-postgres", "registered at run time", "env=dev,team=shop", "healthy", "unhealthy: agent-a: ", "no agent"} {
		if !strings.Contains(table, want) {
			t.Fatalf("db ls table lacks %q:\n%s", want, table)
		}
	}
	waitFor(t, 10*time.Second, "the agent's refusal of the colliding db resource", func() bool {
		return strings.Contains(agentNode.logs(), "not serving db resource static-postgres: this agent's configuration has a database block named static-postgres")
	})

	// psql and pgx through keyway to the real PostgreSQL.
	files := func(name, route string) string {
		prefix := filepath.Join(dir, name)
		kwSign(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*", "--route="+route, "--route-db-user=postgres", "--out="+prefix, "-c", authCfg)
		return prefix
	}
	a := &allInOne{cluster: c, pg: pg, proxy: proxy}
	dyn := files("dyn", "dyn-postgres")
	if out, err := pgtest.Psql(a.connString(dyn, "postgres", "postgres"), "select current_user || ' ' || (select ssl from pg_stat_ssl where pid = pg_backend_pid())"); err != nil || out != "postgres true" {
		t.Fatalf("psql to the db resource: %q, %v", out, err)
	}
	conn, err := a.pgxConnect(t, dyn, "postgres", "postgres")
	if err != nil {
		t.Fatalf("pgx to the db resource: %v", err)
	}
	var one int
	if err := conn.QueryRow(t.Context(), "select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("pgx query: %d %v", one, err)
	}
	_ = conn.Close(t.Context())
	if _, err := a.pgxConnect(t, files("prod", "prod-postgres"), "postgres", "postgres"); err == nil {
		t.Fatal("a db resource no agent serves was reached")
	} else if state, msg := sqlState(t, err); state != "08001" || !strings.Contains(msg, "no connected agent serves it") {
		t.Fatalf("prod-postgres: %s %q", state, msg)
	}

	// Removal, by an editor through the proxy; others are refused.
	if out := kwFails(t, "-i", alice, "--proxy", proxy, "rm", "db/dyn-postgres"); !strings.Contains(out, "no role of alice allows admin") {
		t.Fatalf("rm by a user without the editor role:\n%s", out)
	}
	if out := kw(t, "-i", editor, "--proxy", proxy, "rm", "db/dyn-postgres"); !strings.Contains(out, "db dyn-postgres deleted") {
		t.Fatalf("rm said: %s", out)
	}
	waitFor(t, 10*time.Second, "db ls to drop the removed db", func() bool {
		_, listed := dbList(t, alice, proxy)["dyn-postgres"]
		return !listed
	})
	_, err = a.pgxConnect(t, dyn, "postgres", "postgres")
	if err == nil {
		t.Fatal("connected to a removed db")
	}
	if state, msg := sqlState(t, err); state != "3D000" || !strings.Contains(msg, "database dyn-postgres is not registered in this cluster") {
		t.Fatalf("after rm: %s %q", state, msg)
	}
	if !strings.Contains(agentNode.logs(), "stopped serving db resources: databases=dyn-postgres") {
		t.Fatalf("the agent did not log the removal:\n%s", agentNode.logs())
	}
	if out := kwFails(t, "rm", "db/dyn-postgres", "-c", authCfg); !strings.Contains(out, "no db resource named dyn-postgres") {
		t.Fatalf("removing it twice:\n%s", out)
	}

	created, deleted := 0, 0
	for _, e := range auditEvents(t, authCfg) {
		switch {
		case e.Event == "db.create" && e.Success:
			created++
		case e.Event == "db.delete" && e.Success && e.Target == "db/dyn-postgres":
			deleted++
		}
	}
	if created != 5 || deleted != 1 {
		t.Fatalf("audited %d db.create and %d db.delete, want 5 and 1", created, deleted)
	}
	pgLog, err := pg.Log()
	if err != nil {
		t.Fatal(err)
	}
	// Checks close TLS cleanly before any startup packet, which
	// PostgreSQL does not log; a check that hung up after SSLRequest would
	// leave a line every 5 s.
	if strings.Contains(pgLog, "EOF detected") {
		t.Fatalf("the health checks left lines in PostgreSQL's log:\n%s", pgLog)
	}

	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte("db \"x\" {\n  protocol = \"postgres\"\n  uri      = \"no-port\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kwFails(t, "create", "-f", bad, "-c", authCfg); !strings.Contains(out, "bad.hcl:3:14: error: Invalid database address") {
		t.Fatalf("a bad db file:\n%s", out)
	}
}

// TestAllInOneServesDBResources runs auth, proxy and agent in one
// process whose db block selects every db resource: it serves them from
// its own state backend's watch, with no tunnel.
func TestAllInOneServesDBResources(t *testing.T) {
	c := newCluster(t, "")
	pg := postgresFor(t, c)
	proxy := freeAddr(t)
	body := fmt.Sprintf(`cluster_name = "e2e"
data_dir = %q

auth {}

proxy {
  listen = %q
}

db {
  resources {
    labels = { "*" = "*" }
  }
}
`, c.data, proxy)
	if err := os.WriteFile(c.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, c.cfg, c.data)
	dbFile := c.path("db.hcl")
	if err := os.WriteFile(dbFile, []byte(fmt.Sprintf("db \"local-postgres\" {\n  protocol = \"postgres\"\n  uri      = %q\n}\n", pg.Addr())), 0o600); err != nil {
		t.Fatal(err)
	}
	kw(t, "create", "-f", dbFile, "-c", c.cfg)
	alice := c.path("alice.id")
	kwSign(t, "auth", "sign", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*", "--out="+alice, "-c", c.cfg)
	waitFor(t, 10*time.Second, "the unlabelled db resource to be listed healthy", func() bool {
		db := dbList(t, alice, proxy)["local-postgres"]
		return db.GetStatus() == "healthy" && len(db.GetAgents()) == 1 && db.GetAgents()[0].GetName() == "local"
	})
	prefix := c.path("alice")
	kwSign(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*", "--route=local-postgres", "--route-db-user=postgres", "--out="+prefix, "-c", c.cfg)
	a := &allInOne{cluster: c, pg: pg, proxy: proxy}
	if out, err := pgtest.Psql(a.connString(prefix, "postgres", "postgres"), "select current_user"); err != nil || out != "postgres" {
		t.Fatalf("psql to the db resource served in process: %q, %v", out, err)
	}
}
