package sdk

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// EndReason is why keyway ends a live session. The plugin tells the
// client in its protocol's own words (see Session.Ending) and closes.
type EndReason struct {
	// Kind is EndLocked, EndRevoked, EndExpired or EndIdle.
	Kind string
	// Message is keyway's sentence for the client.
	Message string
}

// Kinds of ending, so a plugin can pick its protocol's error code.
const (
	// EndLocked: a lock covers the session's user, role, database or
	// agent.
	EndLocked = "locked"
	// EndRevoked: the session would no longer be authorised (its user
	// was removed or changed, or a role it relied on).
	EndRevoked = "revoked"
	// EndExpired: the client's certificate expired.
	EndExpired = "expired"
	// EndIdle: the client sent nothing for longer than its idle timeout.
	EndIdle = "idle"
)

// ending is the end signal of one session: the first reason wins. It is
// a context, so that what waits for the end (AfterEnd) needs no
// goroutine of its own while the session lasts.
type ending struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	reason EndReason
	// lastClient is when the client last sent something, or the plugin
	// last reported the session waiting for it (unix nano).
	lastClient atomic.Int64
	// busy is set while the client waits for an answer: a session is
	// not idle while its statement runs.
	busy atomic.Bool
}

func newEnding(now time.Time) *ending {
	e := &ending{}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.lastClient.Store(now.UnixNano())
	return e
}

// Ending is closed when keyway ends the session: the plugin must then
// tell the client why (EndReason), at a point where its protocol allows
// a message, and return from ServeSession. It is never closed for a
// session that was not handed over by the host.
func (s *Session) Ending() <-chan struct{} {
	if s.end == nil {
		return nil
	}
	return s.end.ctx.Done()
}

// AfterEnd arranges for f to run in its own goroutine once the session
// ends: when keyway ends it (see Ending), or after ServeSession returned.
// Unlike a goroutine waiting on Ending, it costs an idle session no
// stack. stop cancels the call and reports whether it did so before f
// started. A session that was not handed over by the host never ends.
func (s *Session) AfterEnd(f func()) (stop func() bool) {
	if s.end == nil {
		return func() bool { return true }
	}
	return context.AfterFunc(s.end.ctx, f)
}

// EndReason is why the session is being ended; the zero EndReason while
// Ending is open.
func (s *Session) EndReason() EndReason {
	if s.end == nil {
		return EndReason{}
	}
	select {
	case <-s.end.ctx.Done():
		return s.end.reason
	default:
		return EndReason{}
	}
}

// End asks the session to end with a reason. The first call wins; it
// reports whether this call was it.
func (s *Session) End(r EndReason) bool {
	if s.end == nil {
		return false
	}
	won := false
	s.end.once.Do(func() {
		s.end.reason = r
		s.end.cancel()
		won = true
	})
	return won
}

// Waiting tells the session's idle watch that the server answered all
// the client asked: the idle time counts from now. Traffic from the
// client (CountFromClient) counts as a request, and while one is
// unanswered the session is not idle however long it runs.
func (s *Session) Waiting() {
	if s.end == nil {
		return
	}
	s.end.lastClient.Store(time.Now().UnixNano())
	s.end.busy.Store(false)
}

// EndWhenIdle ends the session with EndIdle once its client has sent
// nothing for d while it was not waiting for an answer (see Waiting),
// counting what the plugin reports with CountFromClient.
// It returns at once; the watch is a timer, not a goroutine, and stops
// when the session ends. d <= 0 does nothing.
func (s *Session) EndWhenIdle(d time.Duration, message string) {
	if d <= 0 || s.end == nil {
		return
	}
	e := s.end
	// The timer starts once t is set, which its function reads.
	var t *time.Timer
	t = time.AfterFunc(time.Duration(math.MaxInt64), func() {
		if e.ctx.Err() != nil {
			return
		}
		if e.busy.Load() {
			t.Reset(d)
			return
		}
		idle := time.Since(time.Unix(0, e.lastClient.Load()))
		if idle >= d {
			s.End(EndReason{Kind: EndIdle, Message: message})
			return
		}
		t.Reset(d - idle)
	})
	t.Reset(d)
	s.AfterEnd(func() { t.Stop() })
}

// liveSessions are the sessions a protocol plugin serves now, by id.
type liveSessions struct {
	mu sync.Mutex
	m  map[string][]*Session
}

func (l *liveSessions) add(s *Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]*Session{}
	}
	l.m[s.ID] = append(l.m[s.ID], s)
}

func (l *liveSessions) remove(s *Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	list := l.m[s.ID]
	for i, x := range list {
		if x == s {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(l.m, s.ID)
		return
	}
	l.m[s.ID] = list
}

// end ends the named sessions and returns the ids it found.
func (l *liveSessions) end(ids []string, r EndReason) []string {
	l.mu.Lock()
	var found []*Session
	var names []string
	for _, id := range ids {
		if list := l.m[id]; len(list) > 0 {
			found = append(found, list...)
			names = append(names, id)
		}
	}
	l.mu.Unlock()
	for _, s := range found {
		s.End(r)
	}
	return names
}

// ids lists the live sessions.
func (l *liveSessions) ids() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.m))
	for id := range l.m {
		out = append(out, id)
	}
	return out
}
