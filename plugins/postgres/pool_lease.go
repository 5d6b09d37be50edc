package postgres

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// lease follows one client session on a server connection that may go
// back to the pool. It sees both directions of the relay: the client's
// Terminate is kept from the server, which would end the backend, and
// the connection is offered back only when the session ended cleanly at
// a point where the server owes no answer and is outside a transaction.
type lease struct {
	up *tls.Conn

	mu sync.Mutex
	// From the client: the framing, the answers (ReadyForQuery) it is
	// owed, and extended-protocol messages not yet closed by a Sync.
	clientFrames framer
	owed         int
	unsynced     bool
	terminated   bool
	clientDone   bool
	// From the server: the framing, the ReadyForQuery messages seen and
	// the last one's transaction status.
	serverFrames framer
	ready        int
	status       byte
	// broken is set when the relay closed the connection or anything
	// else makes it unfit for another session.
	broken bool
}

func newLease(up *tls.Conn) *lease { return &lease{up: up, status: 'I'} }

// idle reports whether the server owes nothing and is outside a
// transaction. l.mu is held.
func (l *lease) idle() bool {
	return !l.broken && l.clientFrames.atBoundary() && l.serverFrames.atBoundary() &&
		l.ready == l.owed && !l.unsynced && l.status == 'I'
}

// reusable reports whether the session ended in a state the next one
// may start from once the connection is reset.
func (l *lease) reusable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.terminated && l.idle()
}

// client wraps the client's connection for the relay's reads.
func (l *lease) client(c net.Conn) net.Conn { return &leaseClient{Conn: c, l: l} }

// server wraps the server connection for the relay.
func (l *lease) server() net.Conn { return &leaseServer{Conn: l.up, l: l} }

// leaseClient reads the client's messages up to its Terminate.
type leaseClient struct {
	net.Conn
	l *lease
}

func (c *leaseClient) Read(p []byte) (int, error) {
	l := c.l
	l.mu.Lock()
	done := l.terminated
	l.mu.Unlock()
	if done {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	kept, stopped := l.clientFrames.scan(p[:n], l.fromClient, nil)
	if stopped {
		l.terminated = true
		if kept == 0 {
			return 0, io.EOF
		}
		return kept, nil
	}
	return n, err
}

// fromClient notes a client message by its type; Terminate stops it.
// l.mu is held.
func (l *lease) fromClient(typ byte) bool {
	switch typ {
	case 'X':
		return true
	case 'Q', 'F':
		l.owed++
	case 'S':
		l.owed++
		l.unsynced = false
	case 'P', 'B', 'E', 'D', 'C', 'H':
		l.unsynced = true
	}
	return false
}

// CloseWrite half-closes the client's connection, as the relay would.
func (c *leaseClient) CloseWrite() error {
	sdk.CloseWrite(c.Conn)
	return nil
}

// leaseServer relays the server's messages until the client is gone and
// the server owes it nothing; then it reads as at the end of the stream,
// leaving the connection open.
type leaseServer struct {
	net.Conn
	l *lease
}

func (s *leaseServer) Read(p []byte) (int, error) {
	l := s.l
	l.mu.Lock()
	if l.clientDone && l.terminated && l.idle() {
		l.mu.Unlock()
		return 0, io.EOF
	}
	l.mu.Unlock()
	n, err := s.Conn.Read(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.serverFrames.scan(p[:n], nil, func(typ, b byte) {
		if typ == 'Z' {
			l.ready++
			l.status = b
		}
	})
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && l.clientDone {
		// CloseWrite woke this read: the session is over.
		if n == 0 && !l.idle() {
			l.broken = true
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
	if err != nil {
		l.broken = true
	}
	return n, err
}

// CloseWrite is the relay saying the client will send no more. After a
// Terminate the connection stays open, and a read waiting for the server
// is woken; otherwise the server is told the session ends.
func (s *leaseServer) CloseWrite() error {
	l := s.l
	l.mu.Lock()
	l.clientDone = true
	clean := l.terminated
	if !clean {
		l.broken = true
	}
	l.mu.Unlock()
	if !clean {
		return s.Conn.(*tls.Conn).CloseWrite()
	}
	return s.Conn.SetReadDeadline(time.Now())
}

// Close is the relay giving up on the session: the connection goes.
func (s *leaseServer) Close() error {
	s.l.mu.Lock()
	s.l.broken = true
	s.l.mu.Unlock()
	return s.Conn.Close()
}
