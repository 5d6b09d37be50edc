package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// Dialling the database while a session is authorised.
//
// PostgreSQL starts a backend process for each connection it accepts,
// before it reads a byte: most of what opening a connection costs. A
// session that asks what its client was allowed last time dials the
// database while the host decides, so that the backend is ready when
// the session is allowed. Nothing is sent before then: a session refused
// after all closes the connection unused, which the server ends without
// a log line. A request not allowed before, or refused last time, dials
// only once it is allowed, so a client that is refused does not make
// keyway reach the database at all.

// allowedMemory bounds the requests remembered as allowed; past it the
// memory starts again empty.
const allowedMemory = 4096

// requestKey names what a session asks: its client's certificate, the
// database, and the database user and name.
type requestKey [sha256.Size]byte

// newRequestKey hashes the request's parts, each prefixed with its
// length so that no two requests share a key.
func newRequestKey(leaf []byte, database, dbUser, dbName string) requestKey {
	h := sha256.New()
	for _, part := range [][]byte{leaf, []byte(database), []byte(dbUser), []byte(dbName)} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var k requestKey
	h.Sum(k[:0])
	return k
}

// allowedRequests remembers the requests whose last decision allowed
// them. The zero value is ready; safe for concurrent use.
type allowedRequests struct {
	mu      sync.Mutex
	allowed map[requestKey]struct{}
}

// allowedBefore reports whether k was allowed the last time it was
// decided.
func (a *allowedRequests) allowedBefore(k requestKey) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.allowed[k]
	return ok
}

// decided records the decision on k.
func (a *allowedRequests) decided(k requestKey, allow bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !allow {
		delete(a.allowed, k)
		return
	}
	if a.allowed == nil || len(a.allowed) >= allowedMemory {
		a.allowed = map[requestKey]struct{}{}
	}
	a.allowed[k] = struct{}{}
}

// earlyDial is a TCP connection to the database being opened while the
// session is authorised. Exactly one of take and drop is called.
type earlyDial struct {
	done chan struct{}
	conn net.Conn
	err  error
}

// startDial dials addr on a goroutine of its own, for at most timeout.
func startDial(ctx context.Context, addr string, timeout time.Duration) *earlyDial {
	e := &earlyDial{done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.conn, e.err = dialDatabase(ctx, addr, timeout)
	}()
	return e
}

// take waits for the dial and returns its connection, which the caller
// then owns.
func (e *earlyDial) take() (net.Conn, error) {
	<-e.done
	return e.conn, e.err
}

// drop closes the connection, unused, once it is open; it does not
// wait.
func (e *earlyDial) drop() {
	go func() {
		<-e.done
		if e.conn != nil {
			_ = e.conn.Close()
		}
	}()
}

// dialDatabase opens a TCP connection to addr within timeout.
func dialDatabase(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}
