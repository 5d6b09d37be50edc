package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsAndHealth(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	if out, err := pgtestPsql(a.connString(alice, "postgres", "postgres"), "select 1"); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if code, body := get(t, "http://"+a.diag+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, "http://"+a.diag+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	_, metrics := get(t, "http://"+a.diag+"/metrics")
	for _, want := range []string{
		`keyway_proxy_sessions{result="routed"} 1`,
		`keyway_proxy_handshake_count{protocol="postgres"} 1`,
		`keyway_authz_decisions{action="db.connect",result="allow"} 1`,
		`keyway_plugin_up{kind="protocol",plugin="postgres"} 1`,
		`keyway_audit_events_failed 0`,
		`keyway_audit_healthy 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", metrics)
	}
}

// TestEveryPgbenchQueryIsAudited runs a known number of pgbench
// transactions through keyway and finds exactly that many query events.
func TestEveryPgbenchQueryIsAudited(t *testing.T) {
	a := startAllInOne(t)
	if out, err := exec.Command("pgbench", "-i", "-s", "1", "-q", "-h", a.pg.SocketDir, "-p", strconv.Itoa(a.pg.Port), "-U", "postgres", "postgres").CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	host, port, _ := strings.Cut(a.proxy, ":")
	const clients, perClient = 4, 250
	cmd := exec.Command("pgbench", "-n", "-S", "-M", "simple", "-c", strconv.Itoa(clients), "-j", "2", "-t", strconv.Itoa(perClient), "postgres")
	cmd.Env = append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER=postgres", "PGSSLMODE=verify-full",
		"PGSSLROOTCERT="+alice+".cas", "PGSSLCERT="+alice+".crt", "PGSSLKEY="+alice+".key")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgbench through keyway: %v\n%s", err, out)
	}
	var n int
	waitFor(t, 15*time.Second, "every transaction's query in the audit log", func() bool {
		n = 0
		for _, e := range auditEvents(t, a.cfg, "--type=db.session.query", "--user=alice") {
			if strings.HasPrefix(e.Query, "SELECT abalance FROM pgbench_accounts") {
				n++
			}
		}
		return n >= clients*perClient
	})
	if n != clients*perClient {
		t.Fatalf("%d query events for %d transactions", n, clients*perClient)
	}
}
