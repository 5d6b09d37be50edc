package postgres

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

func TestRelayPlainPassesAndCountsBytes(t *testing.T) {
	clientApp, client := tcpPair(t)
	upstream, server := tcpPair(t)
	fromClient := bytes.Repeat([]byte("Q\x00\x00\x00\x0dselect 1\x00"), 5000)
	fromServer := bytes.Repeat([]byte("Z\x00\x00\x00\x05I"), 7000)
	var in, out atomic.Int64
	done := make(chan struct{})
	go func() {
		relayPlain(newBufferPool(), func(n int) { in.Add(int64(n)) }, func(n int) { out.Add(int64(n)) }, client, upstream, upstream, noEnd)
		close(done)
	}()
	gotServer := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(server)
		gotServer <- b
	}()
	go func() {
		_, _ = server.Write(fromServer)
		_ = server.(*net.TCPConn).CloseWrite()
	}()
	go func() {
		_, _ = clientApp.Write(fromClient)
		_ = clientApp.(*net.TCPConn).CloseWrite()
	}()
	gotClient, _ := io.ReadAll(clientApp)
	<-done
	if b := <-gotServer; !bytes.Equal(b, fromClient) {
		t.Fatalf("the server got %d bytes, want %d", len(b), len(fromClient))
	}
	if !bytes.Equal(gotClient, fromServer) {
		t.Fatalf("the client got %d bytes, want %d", len(gotClient), len(fromServer))
	}
	if in.Load() != int64(len(fromClient)) || out.Load() != int64(len(fromServer)) {
		t.Fatalf("counted %d/%d bytes, want %d/%d", in.Load(), out.Load(), len(fromClient), len(fromServer))
	}
}

func TestConfigureDBEvents(t *testing.T) {
	tests := []struct {
		given                string
		want                 string
		sessions, statements bool
		fails                bool
	}{
		{"", sdk.AuditDBEventsAll, true, true, false},
		{"all", sdk.AuditDBEventsAll, true, true, false},
		{"sessions", sdk.AuditDBEventsSessions, true, false, false},
		{"none", sdk.AuditDBEventsNone, false, false, false},
		{"some", "", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.given, func(t *testing.T) {
			p := New().(*Plugin)
			err := p.Configure(context.Background(), sdk.ConfigureRequest{AuditDBEvents: tt.given, Host: &recordingHost{}})
			if tt.fails {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, s := p.current()
			if s.dbEvents != tt.want || s.sessions() != tt.sessions || s.statements() != tt.statements {
				t.Fatalf("settings %+v: sessions %v statements %v", s, s.sessions(), s.statements())
			}
		})
	}
}

// tcpPair returns both ends of a loopback TCP connection, which, unlike
// net.Pipe, can be half-closed.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}
