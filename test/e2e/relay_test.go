package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/supervisor"
)

// echoServer echoes every line back, upper-cased so a relay that loops
// back to the client cannot pass.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, strings.ToUpper(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// relayNode starts keyway with the example plugin terminating TLS on a
// listener in front of an echo server.
func relayNode(t *testing.T) (n *node, listen string, check func()) {
	t.Helper()
	certFile, keyFile, pool := selfSigned(t)
	upstream := echoServer(t)
	listen = freeAddr(t)
	cfg, data := writeConfig(t, fmt.Sprintf(`
plugin "tcprelay" {
  command = %q
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
`, built.tcprelay, sha256File(t, built.tcprelay), upstream, certFile, keyFile, listen))
	n = startNode(t, cfg, data)
	check = func() {
		t.Helper()
		c, err := tlsDial(listen, pool)
		if err != nil {
			t.Fatalf("dialing the relay: %v", err)
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "hello keyway\n"); err != nil {
			t.Fatal(err)
		}
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || got != "HELLO KEYWAY\n" {
			t.Fatalf("relay answered %q, %v", got, err)
		}
	}
	return n, listen, check
}

func TestExamplePluginRelaysAndCounts(t *testing.T) {
	n, _, check := relayNode(t)
	check()
	check()
	p := n.plugin("tcprelay")
	if p.Builtin || p.Kind != "protocol" || p.State != supervisor.StateRunning || p.Version != "0.1.0" {
		t.Fatalf("tcprelay listed as %+v", p.Status)
	}
	if p.Sessions == nil || *p.Sessions != 2 {
		t.Fatalf("sessions = %v, want 2", p.Sessions)
	}
	want := uint64(2 * len("hello keyway\n"))
	if *p.BytesFromClient != want || *p.BytesToClient != want {
		t.Fatalf("bytes in/out = %d/%d, want %d each", *p.BytesFromClient, *p.BytesToClient, want)
	}
	for _, name := range []string{"ca-vault", "postgres", "rbac-opa"} {
		if b := n.plugin(name); !b.Builtin || b.State != supervisor.StateRunning {
			t.Fatalf("built-in %s listed as %+v", name, b.Status)
		}
	}
}

func TestKilledPluginIsBackWithinTwoSeconds(t *testing.T) {
	n, _, check := relayNode(t)
	old := n.plugin("tcprelay").PID
	signal(t, old, syscall.SIGKILL)
	start := time.Now()
	for {
		p := n.plugin("tcprelay")
		if p.State == supervisor.StateRunning && p.PID != old && p.PID != 0 {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("tcprelay not running again 2s after kill -9: %+v", p.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	check()
	t.Logf("serving again %s after kill -9", time.Since(start))
	if err := waitGone([]int{old}, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestCoreSIGKILLLeavesNoPluginProcess(t *testing.T) {
	n, _, _ := relayNode(t)
	var pids []int
	for _, p := range n.plugins() {
		pids = append(pids, p.PID)
	}
	if len(pids) != 4 || slices.Contains(pids, 0) {
		t.Fatalf("want 4 plugin processes (ca-vault, postgres, rbac-opa, tcprelay), have %v", pids)
	}
	signal(t, n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.exited
	if err := waitGone(pids, 3*time.Second); err != nil {
		t.Fatalf("after kill -9 of the core: %v", err)
	}
}

func TestSIGTERMStopsPluginsCleanly(t *testing.T) {
	n, listen, _ := relayNode(t)
	var pids []int
	for _, p := range n.plugins() {
		pids = append(pids, p.PID)
	}
	signal(t, n.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("keyway did not exit within 15s of SIGTERM")
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, n.logs())
	}
	if err := waitGone(pids, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		t.Fatal("listener still accepts after shutdown")
	}
	if logs := n.logs(); strings.Contains(logs, "[ERROR]") || strings.Contains(logs, "failed to exit gracefully") {
		t.Fatalf("unclean shutdown:\n%s", logs)
	}
}

func TestWrongChecksumRefusesToStart(t *testing.T) {
	wrong := strings.Repeat("0", 64)
	cfg, _ := writeConfig(t, fmt.Sprintf(`
plugin "tcprelay" {
  command = %q
  sha256  = %q
  config {
    upstream = "127.0.0.1:1"
  }
}
`, built.tcprelay, wrong))
	out, err := exec.Command(built.keyway, "start", "-c", cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("keyway started with a wrong checksum:\n%s", out)
	}
	got := sha256File(t, built.tcprelay)
	for _, want := range []string{"refusing to start", wrong, got} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
