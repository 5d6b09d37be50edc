package postgres

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func TestRequestKeysTellRequestsApart(t *testing.T) {
	base := newRequestKey([]byte("leaf"), "db", "alice", "app")
	tests := []struct {
		name               string
		leaf               string
		db, dbUser, dbName string
	}{
		{"another certificate", "leaf2", "db", "alice", "app"},
		{"another database", "leaf", "db2", "alice", "app"},
		{"another user", "leaf", "db", "bob", "app"},
		{"another database name", "leaf", "db", "alice", "app2"},
		{"the same bytes split otherwise", "leaf", "db", "alic", "eapp"},
		{"a certificate running into the database", "leafdb", "", "alice", "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if newRequestKey([]byte(tt.leaf), tt.db, tt.dbUser, tt.dbName) == base {
				t.Fatal("the key is the base request's")
			}
		})
	}
	if newRequestKey([]byte("leaf"), "db", "alice", "app") != base {
		t.Fatal("the same request has another key")
	}
}

func TestAllowedRequestsFollowTheLastDecision(t *testing.T) {
	var a allowedRequests
	k := newRequestKey([]byte("leaf"), "db", "alice", "app")
	steps := []struct {
		allow, want bool
	}{{true, true}, {true, true}, {false, false}, {true, true}}
	if a.allowedBefore(k) {
		t.Fatal("a request never decided counts as allowed")
	}
	for i, s := range steps {
		a.decided(k, s.allow)
		if got := a.allowedBefore(k); got != s.want {
			t.Fatalf("step %d: allowedBefore = %v, want %v", i, got, s.want)
		}
	}
	for i := range allowedMemory + 5 {
		a.decided(newRequestKey(nil, fmt.Sprint(i), "u", "d"), true)
	}
	if n := len(a.allowed); n > allowedMemory {
		t.Fatalf("%d requests remembered, bound %d", n, allowedMemory)
	}
}

// TestDroppedEarlyDialSendsNothing checks that a session refused after
// dialling closes the connection without a byte, as PostgreSQL ends such
// a backend silently.
func TestDroppedEarlyDialSendsNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := startDial(context.Background(), ln.Addr().String(), 5*time.Second)
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e.drop()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil || len(b) != 0 {
		t.Fatalf("the database read %q, %v; want nothing and the end of the connection", b, err)
	}
}

func TestTakenEarlyDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	e := startDial(context.Background(), addr, 5*time.Second)
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	conn, err := e.take()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(server, b[:]); err != nil || b[0] != 'x' {
		t.Fatalf("the database read %q, %v", b, err)
	}
	_ = ln.Close()
	if _, err := startDial(context.Background(), addr, 5*time.Second).take(); err == nil {
		t.Fatal("dialling a closed port succeeded")
	}
}
