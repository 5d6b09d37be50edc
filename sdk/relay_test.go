package sdk

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dialed.Close(); _ = accepted.Close() })
	return dialed.(*net.TCPConn), accepted.(*net.TCPConn)
}

// streamPair returns both ends of one stream of a multiplexed session,
// the kind the agent tunnel carries sessions in.
func streamPair(t *testing.T) (near, far net.Conn) {
	t.Helper()
	c1, c2 := net.Pipe()
	client, err := yamux.Client(c1, nil)
	if err != nil {
		t.Fatal(err)
	}
	server, err := yamux.Server(c2, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		s, err := server.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- s
	}()
	near, err = client.Open()
	if err != nil {
		t.Fatal(err)
	}
	// The stream is announced with its first frame.
	if _, err := near.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	far = <-accepted
	if _, err := io.ReadFull(far, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return near, far
}

// startRelay runs Relay(a, b) and returns a channel closed when it returns.
func startRelay(a, b net.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		Relay(a, b)
		close(done)
	}()
	return done
}

// flood writes to c until a write fails, and reports that failure.
func flood(c net.Conn) <-chan error {
	failed := make(chan error, 1)
	go func() {
		chunk := make([]byte, 32<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				failed <- err
				return
			}
		}
	}()
	return failed
}

func waitDone(t *testing.T, done <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("%s: Relay has not returned after %s", what, within)
	}
}

func TestRelayEndsWhenTunnelStreamPeerCloses(t *testing.T) {
	// The client floods; the far end of the stream closes without
	// reading, so the relay's write into the stream blocks on its window.
	client, relayClient := tcpPair(t)
	near, far := streamPair(t)
	done := startRelay(relayClient, near)
	failed := flood(client)
	time.Sleep(100 * time.Millisecond) // let the window fill
	start := time.Now()
	_ = far.Close()
	waitDone(t, done, HalfCloseWriteTimeout+2*time.Second, "stream closed by its far end")
	t.Logf("relay returned %s after the far end closed", time.Since(start))
	// The client connection is closed, not merely half-closed: the
	// client's writes fail.
	select {
	case <-failed:
	case <-time.After(2 * time.Second):
		t.Fatal("the client can still write after the relay returned")
	}
}

func TestRelayEndsWhenPeerResets(t *testing.T) {
	tests := []struct {
		name string
		// flood makes the client write all along, so the relay is
		// blocked writing into the server; otherwise it is blocked
		// reading the idle client.
		flood bool
	}{
		{"relay blocked writing", true},
		{"relay blocked reading", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, relayClient := tcpPair(t)
			relayServer, server := tcpPair(t)
			done := startRelay(relayClient, relayServer)
			if tt.flood {
				flood(client)
				time.Sleep(100 * time.Millisecond)
			}
			// Closing with unread data, or with linger 0, resets.
			_ = server.SetLinger(0)
			_ = server.Close()
			waitDone(t, done, time.Second, "server reset")
			_ = client.SetReadDeadline(time.Now().Add(time.Second))
			var ne net.Error
			if _, err := io.Copy(io.Discard, client); errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("client read: %v, want the connection closed", err)
			}
		})
	}
}

func TestRelayKeepsHalfClose(t *testing.T) {
	// The client sends its request and half-closes; the server answers
	// after it has seen the end of the request.
	client, relayClient := tcpPair(t)
	relayServer, server := tcpPair(t)
	done := startRelay(relayClient, relayServer)
	go func() {
		req, _ := io.ReadAll(server)
		time.Sleep(200 * time.Millisecond)
		_, _ = server.Write(append([]byte("answer to "), req...))
		_ = server.Close()
	}()
	if _, err := client.Write([]byte("question")); err != nil {
		t.Fatal(err)
	}
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil || !bytes.Equal(got, []byte("answer to question")) {
		t.Fatalf("client read %q, %v", got, err)
	}
	waitDone(t, done, time.Second, "both directions ended")
}

// chunkReader returns its chunks one per Read, each whole when the
// caller's buffer allows, as a TLS connection returns records, then
// io.EOF. Before each chunk after the first it waits on next, if set.
type chunkReader struct {
	chunks [][]byte
	next   chan struct{}
	read   int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	if c.next != nil && c.read > 0 {
		<-c.next
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
		c.read++
	}
	return n, nil
}

func TestCopyLazilyCopiesEveryByte(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
	}{
		{"small messages", []int{5, 60, 300, 1}},
		{"exactly the wait buffer", []int{relayWaitBuffer, relayWaitBuffer, 3}},
		{"records larger than either buffer", []int{relayBuffer + 1, 100 << 10, 7}},
		{"a burst then small ones", []int{relayBuffer, relayBuffer, relayBuffer, 10, 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []byte
			src := &chunkReader{}
			for i, n := range tt.sizes {
				c := bytes.Repeat([]byte{byte('a' + i)}, n)
				src.chunks = append(src.chunks, c)
				want = append(want, c...)
			}
			var got bytes.Buffer
			if err := copyLazily(&got, src); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("copied %d bytes that differ from the %d read", got.Len(), len(want))
			}
		})
	}
}

// signalWriter tells wrote about each write.
type signalWriter struct{ wrote chan []byte }

func (w signalWriter) Write(p []byte) (int, error) {
	w.wrote <- bytes.Clone(p)
	return len(p), nil
}

func TestCopyLazilyWritesBeforeReadingAgain(t *testing.T) {
	// A peer that waits for the answer to its message before it sends
	// the next: a copy that held the message while reading again would
	// never deliver it.
	for _, n := range []int{10, relayWaitBuffer, relayBuffer} {
		src := &chunkReader{chunks: [][]byte{make([]byte, n), []byte("next")}, next: make(chan struct{})}
		dst := signalWriter{wrote: make(chan []byte, 4)}
		done := make(chan error, 1)
		go func() { done <- copyLazily(dst, src) }()
		for got := 0; got < n; {
			select {
			case b := <-dst.wrote:
				got += len(b)
			case <-time.After(10 * time.Second):
				t.Fatalf("%d bytes of a %d-byte message were written before the next read", got, n)
			}
		}
		close(src.next)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
