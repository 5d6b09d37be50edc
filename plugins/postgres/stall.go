package postgres

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// stallGuard gives every write to a client a deadline of d, so that a
// client that stops reading (its socket's buffers full) cannot hold its
// session, its server connection and a blocked relay for ever. Setting a
// deadline costs a timer update, so it is moved forward only once a
// quarter of d has passed: a write may then fail after between 3/4 d and
// d of taking nothing.
type stallGuard struct {
	net.Conn
	d time.Duration
	// until is the deadline set last, in Unix nanoseconds.
	until atomic.Int64
}

func newStallGuard(c net.Conn, d time.Duration) *stallGuard {
	return &stallGuard{Conn: c, d: d}
}

func (g *stallGuard) Write(p []byte) (int, error) {
	now := time.Now()
	if time.Duration(g.until.Load()-now.UnixNano()) < g.d*3/4 {
		until := now.Add(g.d)
		if err := g.Conn.SetWriteDeadline(until); err != nil {
			return 0, err
		}
		g.until.Store(until.UnixNano())
	}
	n, err := g.Conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = &stalledError{d: g.d, err: err}
	}
	return n, err
}

// CloseWrite half-closes the client's side, or closes it when it cannot
// be half-closed.
func (g *stallGuard) CloseWrite() error {
	if cw, ok := g.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return g.Conn.Close()
}

// stalledError is a write to the client that timed out.
type stalledError struct {
	d   time.Duration
	err error
}

func (e *stalledError) Error() string {
	return fmt.Sprintf("the client took none of the answer for %s (client_write_timeout), so keyway closed the session", e.d)
}

func (e *stalledError) Unwrap() error { return e.err }
