package apiserver

import (
	"context"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// LiveSession is a session this process authorised and that may still
// run: the facts its access was decided on.
type LiveSession struct {
	ID string
	// Agent is the host name of the agent serving it; "" when this
	// process serves it.
	Agent    string
	Identity identity.Identity
	Database sdk.Database
	Request  access.DBRequest
	// NotAfter is when the client's certificate expires.
	NotAfter time.Time
	// Stored is whether the user had a stored record when the session
	// was authorised: only then does its removal or change end it, since
	// identities signed for names without a record (bots, auth sign) have
	// nothing to compare with.
	Stored bool
	added  time.Time
}

// LiveSessions are the sessions this process authorised, by id.
type LiveSessions struct {
	// Running, when set, returns those of the sessions given that still
	// run, and forgets the others; admitUnder asks it before refusing.
	Running func(ctx context.Context, sessions []LiveSession) []LiveSession

	// admitting makes a count and the add after it one step, so that
	// concurrent sessions cannot all pass one limit.
	admitting sync.Mutex
	mu        sync.Mutex
	m         map[string]*LiveSession
}

// NewLiveSessions returns an empty set.
func NewLiveSessions() *LiveSessions { return &LiveSessions{m: map[string]*LiveSession{}} }

// add records a session just allowed.
func (l *LiveSessions) add(s LiveSession, now time.Time) {
	s.added = now
	l.mu.Lock()
	l.m[s.ID] = &s
	l.mu.Unlock()
}

// admitUnder records s unless the user already holds limit sessions
// that still run (limit 0: no limit), and reports whether it did. The
// count is the sessions this process authorised: through each proxy, a
// user holds at most limit.
func (l *LiveSessions) admitUnder(ctx context.Context, s LiveSession, limit int, now time.Time) bool {
	l.admitting.Lock()
	defer l.admitting.Unlock()
	if limit > 0 {
		held := l.of(s.Identity)
		if len(held) >= limit && l.Running != nil {
			held = l.Running(ctx, held)
		}
		if len(held) >= limit {
			return false
		}
	}
	l.add(s, now)
	return true
}

// of lists the sessions of one identity.
func (l *LiveSessions) of(id identity.Identity) []LiveSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []LiveSession
	for _, s := range l.m {
		if s.Identity.Kind == id.Kind && s.Identity.Name == id.Name {
			out = append(out, *s)
		}
	}
	return out
}

// remove forgets sessions.
func (l *LiveSessions) remove(ids ...string) {
	l.mu.Lock()
	for _, id := range ids {
		delete(l.m, id)
	}
	l.mu.Unlock()
}

// snapshot lists the sessions.
func (l *LiveSessions) snapshot() []LiveSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LiveSession, 0, len(l.m))
	for _, s := range l.m {
		out = append(out, *s)
	}
	return out
}

// Len is the number of sessions held.
func (l *LiveSessions) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
