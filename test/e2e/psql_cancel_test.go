package e2e

import (
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// TestCtrlCInPsqlCancelsTheQuery sends SIGINT to a plain psql connected
// straight to the proxy while it runs pg_sleep(30): psql's own cancel
// request reaches the backend through keyway.
func TestCtrlCInPsqlCancelsTheQuery(t *testing.T) {
	a := startAllInOne(t)
	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route-db-user=postgres")
	cmd := exec.Command("psql", "-X", a.connString(alice, "postgres", "postgres"), "-c", "select pg_sleep(30)")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, 10*time.Second, "the query to run", func() bool {
		return a.pg.SQL(t, "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'") == "1"
	})
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("psql still waiting 5 s after ctrl+c:\n%s", out.String())
	}
	if took := time.Since(sent); took > 2*time.Second {
		t.Fatalf("psql returned %s after ctrl+c", took)
	}
	if !strings.Contains(out.String(), "canceling statement due to user request") {
		t.Fatalf("psql said:\n%s", out.String())
	}
	waitFor(t, 5*time.Second, "the backend to be idle", func() bool {
		return a.pg.SQL(t, "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'") == "0"
	})
	// The cancel is in the session's audit trail, after its start.
	starts := auditEvents(t, a.cfg, "--type=db.session.start")
	var cancels []audit.Event
	waitFor(t, 5*time.Second, "the cancel in the audit log", func() bool {
		cancels = auditEvents(t, a.cfg, "--type=db.session.cancel")
		return len(cancels) > 0
	})
	if len(starts) != 1 || len(cancels) != 1 {
		t.Fatalf("%d session starts and %d cancels; want one of each", len(starts), len(cancels))
	}
	c := cancels[0]
	if !c.Success || c.SessionID != starts[0].SessionID || c.User != "alice" || c.Index <= starts[0].Index || !strings.HasPrefix(c.Reason, "cancel request from ") {
		t.Fatalf("cancel event %+v for session start %+v", c, starts[0])
	}
}
