package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// dataConn is a data connection's two ends: the one the proxy parks and
// the agent's.
func dataConn(t *testing.T) (proxyEnd, agentEnd net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

func TestSessionsTakeParkedDataConnections(t *testing.T) {
	r := NewRegistry()
	a := r.Add("agent-1", session(t))
	proxyEnd, agentEnd := dataConn(t)
	if !r.Park("agent-1", proxyEnd) {
		t.Fatal("the agent's data connection was refused")
	}

	got := make(chan *pluginv1.Session, 1)
	go func() {
		s, err := ReadHeader(agentEnd)
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := a.OpenSession(ctx, &pluginv1.Session{Id: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if c != proxyEnd {
		t.Fatalf("the session took %T; want the parked data connection", c)
	}
	if s := <-got; s.GetId() != "s1" {
		t.Fatalf("the agent read session %q; want s1", s.GetId())
	}

	// None is parked now, nor within DataWait: the next session takes a
	// tunnel stream.
	c2, err := a.OpenSession(ctx, &pluginv1.Session{Id: "s2"})
	if err != nil {
		t.Fatal(err)
	}
	if c2 == proxyEnd {
		t.Fatal("a data connection served two sessions")
	}
	_ = c2.Close()
}

func TestParkRefuses(t *testing.T) {
	r := NewRegistry()
	a := r.Add("agent-1", session(t))
	if c, _ := dataConn(t); r.Park("agent-2", c) {
		t.Fatal("a data connection of an agent without a tunnel was parked")
	}
	for i := range MaxParked {
		if c, _ := dataConn(t); !r.Park("agent-1", c) {
			t.Fatalf("connection %d of %d was refused", i+1, MaxParked)
		}
	}
	if c, _ := dataConn(t); r.Park("agent-1", c) {
		t.Fatalf("more than %d connections were parked for one agent", MaxParked)
	}

	// Removing the tunnel closes what was parked and refuses more.
	first := a.data.conns[0]
	r.Remove(a)
	if _, err := first.Write([]byte{0}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("writing to a parked connection after its tunnel went: %v; want it closed", err)
	}
	if !a.data.closed || len(a.data.conns) != 0 {
		t.Fatal("the removed agent still holds parked connections")
	}
	if c, _ := dataConn(t); r.Park("agent-1", c) {
		t.Fatal("a data connection was parked for a removed tunnel")
	}
}

func TestABrokenDataConnectionFallsBackToTheTunnel(t *testing.T) {
	r := NewRegistry()
	a := r.Add("agent-1", session(t))
	proxyEnd, agentEnd := dataConn(t)
	r.Park("agent-1", proxyEnd)
	_ = agentEnd.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := a.OpenSession(ctx, &pluginv1.Session{Id: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if c == proxyEnd {
		t.Fatal("the session took a data connection whose agent end was closed")
	}
}

// tcpPair is a loopback TCP connection's two ends.
func tcpPair(t *testing.T) (proxyEnd, agentEnd net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	agentEnd, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	proxyEnd, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxyEnd.Close(); _ = agentEnd.Close() })
	return proxyEnd, agentEnd
}

// A parked connection whose agent end closed (the process holding it was
// killed) is dropped when a session comes, which takes an open one.
func TestSessionsSkipDataConnectionsClosedAtTheAgent(t *testing.T) {
	r := NewRegistry()
	a := r.Add("agent-1", session(t))
	openProxy, _ := tcpPair(t)
	deadProxy, deadAgent := tcpPair(t)
	for _, c := range []net.Conn{openProxy, deadProxy} {
		if !r.Park("agent-1", c) {
			t.Fatal("the agent's data connection was refused")
		}
	}
	_ = deadAgent.Close()
	// The proxy's end sees the close once the kernel delivered it.
	deadline := time.Now().Add(5 * time.Second)
	for alive(deadProxy) {
		if time.Now().After(deadline) {
			t.Fatal("a data connection closed at the agent still looks open")
		}
		time.Sleep(time.Millisecond)
	}
	if !alive(openProxy) {
		t.Fatal("an open data connection looks closed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := a.OpenSession(ctx, &pluginv1.Session{Id: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if c != openProxy {
		t.Fatalf("the session took %v; want the open data connection", c.LocalAddr())
	}
}

// A session that finds no data connection parked, from an agent that
// keeps them, waits for the one the agent dials next rather than take a
// tunnel stream; one from an agent that never parked one does not wait.
func TestSessionsWaitForTheNextDataConnection(t *testing.T) {
	r := NewRegistry()
	a := r.Add("agent-1", session(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Never parked: a tunnel stream, without waiting.
	c, err := a.OpenSession(ctx, &pluginv1.Session{Id: "s0"})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	a.data.mu.Lock()
	waited := a.data.arrived != nil
	a.data.mu.Unlock()
	if waited {
		t.Fatal("a session waited for a data connection from an agent that keeps none")
	}

	first, firstAgent := dataConn(t)
	go func() { _, _ = ReadHeader(firstAgent) }()
	r.Park("agent-1", first)
	if c, err := a.OpenSession(ctx, &pluginv1.Session{Id: "s1"}); err != nil || c != first {
		t.Fatalf("the first session got %v, %v; want the parked connection", c, err)
	}
	got := make(chan net.Conn, 1)
	go func() {
		c, err := a.OpenSession(ctx, &pluginv1.Session{Id: "s2"})
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	// Park the next connection once the session waits for it.
	for {
		a.data.mu.Lock()
		waiting := a.data.arrived != nil
		a.data.mu.Unlock()
		if waiting {
			break
		}
		select {
		case c := <-got:
			t.Fatalf("the session took %v instead of waiting", c)
		case <-time.After(time.Millisecond):
		}
	}
	next, agentEnd := dataConn(t)
	go func() { _, _ = ReadHeader(agentEnd) }()
	r.Park("agent-1", next)
	if c := <-got; c != next {
		t.Fatalf("the waiting session took %v; want the connection parked meanwhile", c)
	}
}
