package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/supervisor"
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

// metricValue finds one series, its name and labels as the text format
// prints them (labels sorted by name), in a scrape.
func metricValue(scrape, series string) (float64, bool) {
	for _, line := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
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
	scrape := func() string { _, m := get(t, "http://"+a.diag+"/metrics"); return m }
	value := func(m, series string) float64 {
		v, ok := metricValue(m, series)
		if !ok {
			t.Fatalf("metrics lack %s:\n%s", series, m)
		}
		return v
	}
	const (
		active   = `keyway_plugin_sessions_active{plugin="postgres"}`
		startOK  = `keyway_plugin_sessions_started{plugin="postgres",result="ok"}`
		denied   = `keyway_plugin_sessions_started{plugin="postgres",result="denied"}`
		fromCli  = `keyway_plugin_bytes{direction="from_client",plugin="postgres"}`
		toCli    = `keyway_plugin_bytes{direction="to_client",plugin="postgres"}`
		shakes   = `keyway_plugin_handshake_ms_count{plugin="postgres"}`
		shakeInf = `keyway_plugin_handshake_ms_bucket{le="+Inf",plugin="postgres"}`
		authzN   = `keyway_plugin_authorize_ms_count{plugin="postgres"}`
		authzSum = `keyway_plugin_authorize_ms_sum{plugin="postgres"}`
		failed   = `keyway_plugin_audit_events_failed{plugin="postgres"}`
	)
	// The psql session's end reaches the plugin's counters shortly after
	// psql exits.
	var m string
	waitFor(t, 10*time.Second, "the session to end in the plugin's metrics", func() bool {
		m = scrape()
		v, ok := metricValue(m, active)
		return ok && v == 0
	})
	for _, want := range []string{
		`keyway_proxy_sessions{result="routed"} 1`,
		`keyway_proxy_handshake_count{protocol="postgres"} 1`,
		`keyway_authz_decisions{action="db.connect",result="allow"} 1`,
		`keyway_plugin_up{kind="protocol",plugin="postgres"} 1`,
		`keyway_audit_events_failed 0`,
		`keyway_audit_healthy 1`,
		// alice's files were signed through the admin socket.
		`keyway_certificates_issued{kind="operator"} 1`,
		startOK + " 1", shakes + " 1", shakeInf + " 1", authzN + " 1", failed + " 0",
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	in1, out1 := value(m, fromCli), value(m, toCli)
	if in1 == 0 || out1 == 0 || value(m, authzSum) <= 0 {
		t.Errorf("bytes %v/%v, authorisation time %v after a session", in1, out1, value(m, authzSum))
	}
	if t.Failed() {
		t.Fatalf("metrics:\n%s", m)
	}

	// The values move as sessions run: one held open, one denied.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := a.pgxConnect(t, alice, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := conn.QueryRow(ctx, "select repeat('x', 100000)").Scan(&s); err != nil {
		t.Fatal(err)
	}
	bob := a.userFiles(t, "bob", "--roles=access", "--db-users=app", "--db-names=*")
	if _, err := a.pgxConnect(t, bob, "postgres", "postgres"); err == nil {
		t.Fatal("bob was let in")
	}
	m = scrape()
	if v := value(m, active); v != 1 {
		t.Errorf("%s = %v with one session open", active, v)
	}
	if v := value(m, startOK); v != 2 {
		t.Errorf("%s = %v after two sessions", startOK, v)
	}
	if v := value(m, denied); v != 1 {
		t.Errorf("%s = %v after a denial", denied, v)
	}
	if v := value(m, authzN); v != 3 {
		t.Errorf("%s = %v after three decisions", authzN, v)
	}
	if v := value(m, toCli); v < out1+100000 {
		t.Errorf("%s = %v, want at least %v after a 100 kB result", toCli, v, out1+100000)
	}
	if v := value(m, fromCli); v <= in1 {
		t.Errorf("%s did not grow: %v", fromCli, v)
	}
	_ = conn.Close(ctx)
	waitFor(t, 10*time.Second, "the held session to end", func() bool {
		v, ok := metricValue(scrape(), active)
		return ok && v == 0
	})
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
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

// TestReadinessFollowsAPluginThatIsDown kills a plugin whose restart is
// held: its command is a shell that waits while a hold file exists before
// it becomes the plugin. The supervisor's relaunch then waits (it does not
// fail, so no crash is counted) for as long as the test holds it, and
// /readyz must say not ready the whole time, then ready once the plugin
// serves again.
func TestReadinessFollowsAPluginThatIsDown(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	upstream, listen, diagAddr := echoServer(t), freeAddr(t), freeAddr(t)
	hold := filepath.Join(t.TempDir(), "hold")
	const script = `while [ -e "$1" ]; do sleep 0.05; done; exec "$2"`
	cfg, data := writeConfig(t, fmt.Sprintf(`
plugin "tcprelay" {
  command = "/bin/sh"
  args    = ["-c", %q, "held-relay", %q, %q]
  sha256  = %q
  config {
    upstream = %q
    tls {
      cert_file = %q
      key_file  = %q
    }
  }
}

listener "relay" {
  address  = %q
  protocol = "tcprelay"
}

diag {
  listen = %q
}
`, script, hold, built.tcprelay, sha256File(t, "/bin/sh"), upstream, certFile, keyFile, listen, diagAddr))
	n := startNode(t, cfg, data)
	readyz := func() (int, string) { return get(t, "http://"+diagAddr+"/readyz") }
	if code, body := readyz(); code != 200 {
		t.Fatalf("/readyz at start: %d %q", code, body)
	}

	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pid := n.plugin("tcprelay").PID
	signal(t, pid, syscall.SIGKILL)
	waitFor(t, 5*time.Second, "/readyz to say the plugin is down", func() bool {
		code, body := readyz()
		return code == 503 && strings.Contains(body, "plugin tcprelay is restarting")
	})
	// Held: it stays down, checked several times while the relaunch waits.
	for range 5 {
		if code, body := readyz(); code != 503 {
			t.Fatalf("/readyz while the plugin is held down: %d %q", code, body)
		}
		if p := n.plugin("tcprelay"); p.State != supervisor.StateRestarting {
			t.Fatalf("the held plugin is %s", p.State)
		}
	}

	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "/readyz to say ready again", func() bool {
		code, _ := readyz()
		return code == 200
	})
	p := n.plugin("tcprelay")
	if p.State != supervisor.StateRunning || p.PID == pid || p.Restarts != 1 {
		t.Fatalf("after the hold: %+v", p.Status)
	}
	c, err := tlsDial(listen, pool)
	if err != nil {
		t.Fatalf("the relay after its restart: %v", err)
	}
	_ = c.Close()
}
