package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/keyway-dev/keyway/core/audit"
)

// mysqlMarked are clients that run marked statements through keyway, by
// turns a text query and a prepared statement, each over a connection of
// its own, and note which of them were answered.
type mysqlMarked struct {
	mu     sync.Mutex
	acked  map[string]bool // marker: whether it was a prepared statement
	after  []int           // statements answered after the kill, per client
	killed bool
	wrong  error
	wg     sync.WaitGroup
}

// mysqlMarkedPrepared is the marked prepared statement.
const mysqlMarkedPrepared = "select ?"

func runMySQLMarked(dsn string, clients int, stop <-chan struct{}) *mysqlMarked {
	m := &mysqlMarked{acked: map[string]bool{}, after: make([]int, clients)}
	for c := range clients {
		m.wg.Go(func() { m.client(dsn, c, stop) })
	}
	return m
}

func (m *mysqlMarked) client(dsn string, c int, stop <-chan struct{}) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		m.fail(err)
		return
	}
	defer func() { _ = db.Close() }()
	db.SetMaxOpenConns(1)
	// Reconnecting while the plugin restarts is paced, not a busy loop.
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		marker := fmt.Sprintf("mymark-%d-%d", c, n)
		prepared := n%2 == 1
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var got string
		if prepared {
			err = db.QueryRowContext(ctx, mysqlMarkedPrepared, marker).Scan(&got)
		} else {
			err = db.QueryRowContext(ctx, "select '"+marker+"'").Scan(&got)
		}
		cancel()
		if err != nil {
			// Broken by the kill: the statement was not answered.
			select {
			case <-stop:
				return
			case <-retry.C:
			}
			continue
		}
		m.ack(c, marker, prepared, got)
	}
}

func (m *mysqlMarked) ack(c int, marker string, prepared bool, got string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if got != marker && m.wrong == nil {
		m.wrong = fmt.Errorf("client %d ran the statement marked %s and received %q", c, marker, got)
	}
	m.acked[marker] = prepared
	if m.killed {
		m.after[c]++
	}
}

func (m *mysqlMarked) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wrong == nil {
		m.wrong = err
	}
}

func (m *mysqlMarked) markKill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.killed = true
}

func (m *mysqlMarked) counts() (acked, minAfter int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.acked), slices.Min(m.after)
}

// missing lists the answered statements the events do not hold, and
// those they hold more than once.
func (m *mysqlMarked) missing(events []audit.Event) (missing, twice []string) {
	counts := map[string]int{}
	for _, e := range events {
		switch {
		case e.Event == audit.SessionQuery && strings.HasPrefix(e.Query, "select 'mymark-"):
			counts[strings.Trim(strings.TrimPrefix(e.Query, "select "), "'")]++
		case e.Event == audit.SessionStatement && e.Query == mysqlMarkedPrepared && len(e.Parameters) == 1:
			counts[e.Parameters[0]]++
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for marker := range m.acked {
		switch n := counts[marker]; {
		case n == 0:
			missing = append(missing, marker)
		case n > 1:
			twice = append(twice, fmt.Sprintf("%s (%d times)", marker, n))
		}
	}
	slices.Sort(missing)
	slices.Sort(twice)
	return missing, twice
}

// TestKilledMySQLPluginUnderLoad kills the agent's mysql plugin with
// SIGKILL while clients run marked text queries and prepared statements
// through keyway: the plugin is started again, the clients go on, and
// every statement whose answer a client received is in the audit log,
// once. The plugin holds each answer until its event is in the core's
// hands, as the postgres plugin does.
func TestKilledMySQLPluginUnderLoad(t *testing.T) {
	c := startMySQLCluster(t)
	home := filepath.Join(c.dir, "home")
	aliceID := filepath.Join(c.dir, "alice.id")
	kwSign(t, "auth", "sign", "--user=alice", "--roles=access", "--db-users=alice", "--db-names=*", "--out="+aliceID, "-c", c.authCfg)
	port := startProxyDB(t, home, "shop-mysql", "--db-user=alice", "--db-name=shop", "-i", aliceID, "--proxy", c.proxy)
	dsn := mysql.NewConfig()
	dsn.User, dsn.Net, dsn.Addr, dsn.DBName, dsn.Timeout = "alice", "tcp", "127.0.0.1:"+port, "shop", 10*time.Second

	stop := make(chan struct{})
	m := runMySQLMarked(dsn.FormatDSN(), 4, stop)
	stopAll := sync.OnceFunc(func() {
		close(stop)
		m.wg.Wait()
	})
	defer stopAll()
	waitFor(t, 20*time.Second, "the marked statements to run", func() bool { n, _ := m.counts(); return n > 200 })

	pid := c.agent.plugin("mysql").PID
	m.markKill()
	signal(t, pid, syscall.SIGKILL)
	if err := waitGone([]int{pid}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every client to run statements again after kill -9 of the mysql plugin", func() bool {
		_, after := m.counts()
		return after >= 5
	})
	stopAll()
	if m.wrong != nil {
		t.Fatal(m.wrong)
	}

	// Events still in flight reach the log soon after the sessions end;
	// duplicates never go away.
	var missing, twice []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		missing, twice = m.missing(auditEvents(t, c.authCfg, "--db=shop-mysql"))
		if len(missing) == 0 || len(twice) > 0 || time.Now().After(deadline) {
			break
		}
	}
	acked, _ := m.counts()
	t.Logf("%d marked statements answered", acked)
	if len(missing) > 0 {
		t.Errorf("%d answered statements are not in the audit log: %s", len(missing), strings.Join(first(missing, 20), ", "))
	}
	if len(twice) > 0 {
		t.Errorf("%d statements are in the audit log more than once: %s", len(twice), strings.Join(first(twice, 20), ", "))
	}
}
