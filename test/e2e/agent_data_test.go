package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyway-dev/keyway/core/config"
)

// procIO reads how many bytes a process read and wrote through system
// calls (sockets included), from /proc/PID/io.
func procIO(t *testing.T, pid int) (read, written int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "rchar":
			read = n
		case "wchar":
			written = n
		}
	}
	return read, written
}

// establishedTo counts pid's TCP connections established to port.
func establishedTo(t *testing.T, pid int, port string) int {
	t.Helper()
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	remote := fmt.Sprintf(":%04X", p)
	sockets := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			// sl local remote st ... inode: 01 is ESTABLISHED.
			if len(f) > 9 && strings.HasSuffix(f[2], remote) && f[3] == "01" {
				sockets["socket:["+f[9]+"]"] = true
			}
		}
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && sockets[target] {
			n++
		}
	}
	return n
}

// TestAgentPluginCarriesSessionBytes checks that a session through a
// separate agent crosses one process on the agent's host, its protocol
// plugin: the agent hands the data connections it dials to the proxy to
// the plugin before TLS, and its core reads none of the session's
// bytes. After kill -9 of the plugin, the new one gets new connections
// and sessions cross it again.
func TestAgentPluginCarriesSessionBytes(t *testing.T) {
	a := startAllInOne(t)
	ag := startBoundAgent(t, a, "edge", []string{"--db-names=edge"}, map[string]string{"edge": "dev"})
	alice := a.path("alice")
	kwSign(t, "auth", "sign", "--format=files", "--user=alice", "--roles=access", "--db-users=*", "--db-names=*",
		"--route=edge", "--route-db-user=postgres", "--out="+alice, "-c", a.cfg)
	lister := a.path("lister.id")
	kwSign(t, "auth", "sign", "--user=lister", "--roles=access", "--db-users=*", "--db-names=*", "--out="+lister, "-c", a.cfg)
	waitFor(t, 30*time.Second, "the agent to serve edge", func() bool {
		return len(servingAgents(t, lister, a.proxy, "edge")) == 1
	})
	_, port, _ := net.SplitHostPort(a.proxy)
	core := ag.cmd.Process.Pid

	// stream reads 20 MB of rows through the agent and returns the bytes
	// the agent's core and its plugin read meanwhile.
	const rows, width = 20000, 1000
	stream := func(plugin int) (coreRead, pluginRead int64) {
		t.Helper()
		c0, _ := procIO(t, core)
		p0, _ := procIO(t, plugin)
		conn, err := a.pgxConnect(t, alice, "postgres", "postgres")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		defer func() { _ = conn.Close(ctx) }()
		got, err := conn.Query(ctx, fmt.Sprintf("select repeat('x', %d) from generate_series(1, %d)", width, rows))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for got.Next() {
			n++
		}
		if err := got.Err(); err != nil || n != rows {
			t.Fatalf("read %d rows of %d: %v", n, rows, err)
		}
		c1, _ := procIO(t, core)
		p1, _ := procIO(t, plugin)
		return c1 - c0, p1 - p0
	}
	check := func(when string) {
		t.Helper()
		plugin := ag.plugin("postgres").PID
		waitFor(t, 30*time.Second, "the agent's plugin to hold its data connections "+when, func() bool {
			return establishedTo(t, plugin, port) >= config.DefaultDataConnections
		})
		coreRead, pluginRead := stream(plugin)
		t.Logf("%s: the agent's core read %d bytes, its plugin %d", when, coreRead, pluginRead)
		if pluginRead < rows*width {
			t.Fatalf("%s: the agent's plugin read %d bytes of a %d-byte result", when, pluginRead, rows*width)
		}
		if coreRead > rows*width/10 {
			t.Fatalf("%s: the agent's core read %d bytes of a %d-byte result: the session crossed it", when, coreRead, rows*width)
		}
	}
	check("at start")

	// A burst of sessions, twice what the agent keeps parked, all go on
	// data connections: those that find none parked wait for the
	// replacements the agent dials.
	const burst = 2 * config.DefaultDataConnections
	var wg sync.WaitGroup
	opened := make(chan *pgx.Conn, burst)
	for range burst {
		wg.Go(func() {
			conn, err := a.pgxConnect(t, alice, "postgres", "postgres")
			if err != nil {
				t.Error(err)
				return
			}
			opened <- conn
		})
	}
	wg.Wait()
	close(opened)
	for conn := range opened {
		_ = conn.Close(context.Background())
	}
	if t.Failed() {
		t.FailNow()
	}
	var viaData, viaTunnel float64
	waitFor(t, 15*time.Second, "the proxy to count the burst's sessions", func() bool {
		_, m := get(t, "http://"+a.diag+"/metrics")
		viaData, _ = metricValue(m, `keyway_proxy_agent_sessions{via="data"}`)
		viaTunnel, _ = metricValue(m, `keyway_proxy_agent_sessions{via="tunnel"}`)
		return viaData+viaTunnel >= burst+1
	})
	if viaTunnel != 0 || viaData != burst+1 {
		t.Fatalf("the proxy sent %v sessions on data connections and %v in the tunnel; want all %d on data connections", viaData, viaTunnel, burst+1)
	}

	pid := ag.plugin("postgres").PID
	signal(t, pid, syscall.SIGKILL)
	if err := waitGone([]int{pid}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the agent's plugin to restart", func() bool {
		p := ag.plugin("postgres")
		return p.PID != 0 && p.PID != pid
	})
	check("after kill -9 of the plugin")
}
