package handoff

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
)

func TestHandoffPassesAWorkingConnection(t *testing.T) {
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	if fi, err := os.Stat(ln.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	recvCh := make(chan *Receiver, 1)
	go func() {
		r, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		recvCh <- r
	}()
	s, err := Dial(ln.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	r := <-recvCh

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := tcp.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(server.(*net.TCPConn), []byte("meta")); err != nil {
		t.Fatal(err)
	}
	_ = server.Close() // the receiver's copy must keep the connection open

	f, payload, err := r.Receive()
	if err != nil {
		t.Fatal(err)
	}
	if string(payload) != "meta" {
		t.Fatalf("payload = %q", payload)
	}
	got, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(got, buf); err != nil || !bytes.Equal(buf, []byte("ping")) {
		t.Fatalf("read %q, %v", buf, err)
	}
	_ = got.Close()
	if n, err := client.Read(buf); n != 0 || err == nil {
		t.Fatalf("client read after close: %d, %v", n, err)
	}
}

func TestSendRefusesOversizedPayload(t *testing.T) {
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	s, err := Dial(ln.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	err = s.Send(f, make([]byte, MaxPayload+1))
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("err = %v", err)
	}
}

func TestReceiveWithoutDescriptor(t *testing.T) {
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: ln.Path(), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	r, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("no fd")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Receive(); !errors.Is(err, ErrNoDescriptor) {
		t.Fatalf("err = %v, want ErrNoDescriptor", err)
	}
}

func TestListenerCloseRemovesDirectory(t *testing.T) {
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	path := ln.Path()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket still exists: %v", err)
	}
}
