package handoff

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHandoffPassesAWorkingConnection(t *testing.T) {
	ln := listen(t)
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
	s := dial(t, ln.Path())
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
	ln := listen(t)
	s := dial(t, ln.Path())
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
	ln := listen(t)
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

// TestAcceptRemovesDirectory checks that nothing is left in the
// temporary directory once the host is connected, so a plugin killed
// later leaves no socket behind, and that the connection still works.
func TestAcceptRemovesDirectory(t *testing.T) {
	ln := listen(t)
	path := ln.Path()
	accepted := make(chan *Receiver, 1)
	go func() {
		r, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- r
	}()
	// Dialled without Dial, which removes the directory too.
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Sender{c: c}
	defer func() { _ = s.Close() }()
	r := <-accepted
	if r == nil {
		t.Fatal("no receiver")
	}
	defer func() { _ = r.Close() }()
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket's directory is still there after the host connected: %v", err)
	}
	if _, err := Dial(path); err == nil {
		t.Fatal("a second process dialled the socket after the host")
	}
	a, b, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Close() }()
	if err := s.Send(b, []byte("meta")); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	f, payload, err := r.Receive()
	if err != nil || string(payload) != "meta" {
		t.Fatalf("receive after the directory went: %q, %v", payload, err)
	}
	_ = f.Close()
}

// TestDialRemovesDirectory checks that the host removes the socket it
// connected to even when the plugin never accepts (killed first).
func TestDialRemovesDirectory(t *testing.T) {
	ln := listen(t)
	dial(t, ln.Path())
	if _, err := os.Stat(filepath.Dir(ln.Path())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket's directory is still there after Dial: %v", err)
	}
}

// TestDialLeavesOtherPathsAlone checks that Dial removes only what
// Listen made.
func TestDialLeavesOtherPathsAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, socketName)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	s, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Dial removed a socket Listen did not make: %v", err)
	}
}

func TestAcceptDeadline(t *testing.T) {
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	path := ln.Path()
	if err := ln.SetDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept with no host = %v, want a deadline error", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket's directory is still there after Close: %v", err)
	}
}

// socketPair returns two connected Unix stream sockets.
func socketPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, err
	}
	conn := func(fd int) (*net.UnixConn, error) {
		f := os.NewFile(uintptr(fd), "pair")
		defer func() { _ = f.Close() }()
		c, err := net.FileConn(f)
		if err != nil {
			return nil, err
		}
		return c.(*net.UnixConn), nil
	}
	a, err := conn(fds[0])
	if err != nil {
		return nil, nil, err
	}
	b, err := conn(fds[1])
	if err != nil {
		_ = a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// listen opens a Listener that the test closes at its end.
func listen(t *testing.T) *Listener {
	t.Helper()
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// dial connects a Sender to path that the test closes at its end.
func dial(t *testing.T, path string) *Sender {
	t.Helper()
	s, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
