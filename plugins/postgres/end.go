package postgres

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// SQLSTATE codes of sessions keyway ends.
const (
	stateAdminShutdown      = "57P01" // admin_shutdown
	stateIdleSessionTimeout = "57P05" // idle_session_timeout
)

// errSessionEnded stops the server's direction of a relay at a message
// boundary when keyway ends the session.
var errSessionEnded = errors.New("keyway ended the session")

// endReader is the server's side of a relay that keyway may end. Ending
// sets a flag and a past read deadline: a read waiting for the next
// message's header then stops the relay, at a boundary, while a read in
// the middle of a message carries on without deadline so the message
// reaches the client whole, and the relay stops before the next one.
type endReader struct {
	conn  net.Conn
	ended atomic.Bool
	// boundary is set by the relay while it waits for a header with
	// nothing buffered: no byte of the next message was read yet.
	boundary bool
	// ready, if set, is called for each ReadyForQuery the server sends:
	// the session then waits for its client (sdk.Session.Waiting).
	ready func()
}

func (e *endReader) Read(p []byte) (int, error) {
	for {
		n, err := e.conn.Read(p)
		if n > 0 {
			e.boundary = false
		}
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || !e.ended.Load() {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		if e.boundary {
			return 0, errSessionEnded
		}
		_ = e.conn.SetReadDeadline(time.Time{})
	}
}

// end marks the relay as ending and wakes a read that waits for the
// server.
func (e *endReader) end() {
	e.ended.Store(true)
	_ = e.conn.SetReadDeadline(time.Now())
}

// interruptible is a relay source that can be ended between messages.
type interruptible interface {
	atBoundary(bool)
	isEnded() bool
	// passed is told the type of each message relayed.
	passed(typ byte)
}

func (e *endReader) passed(typ byte) {
	if typ == 'Z' && e.ready != nil {
		e.ready()
	}
}

func (e *endReader) atBoundary(b bool) { e.boundary = b }
func (e *endReader) isEnded() bool     { return e.ended.Load() }

// watchEnd ends the server's side of the relay when keyway ends the
// session; stop releases the watch once the relay returned. The watch
// is a callback, so an idle session keeps no goroutine for it.
func watchEnd(s *sdk.Session, upstream net.Conn) (src *endReader, stop func()) {
	src = &endReader{conn: upstream, ready: s.Waiting}
	cancel := s.AfterEnd(src.end)
	return src, func() { cancel() }
}

// endState and endMessage are what the client is told when keyway ends
// its session for reason r.
func endState(r sdk.EndReason) string {
	switch r.Kind {
	case sdk.EndIdle:
		return stateIdleSessionTimeout
	case sdk.EndExpired:
		return stateInvalidAuthorization
	}
	return stateAdminShutdown
}

func endMessage(r sdk.EndReason) string {
	if r.Message != "" {
		return r.Message
	}
	switch r.Kind {
	case sdk.EndIdle:
		return "keyway: the session was idle for too long and is closed"
	case sdk.EndExpired:
		return "keyway: the client certificate expired, so the session is closed; run keyway db login again"
	case sdk.EndLocked:
		return "keyway: access is locked by an administrator, so the session is closed"
	}
	return "keyway: the session is no longer authorised and is closed"
}
