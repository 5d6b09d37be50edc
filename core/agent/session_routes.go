package agent

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/keyway-dev/keyway/core/api/proto/keyway/api/v1"
)

// SessionTail is how long the agent remembers which proxy routed a
// session after it ended: its last audit events (the session's end, a
// cancel) may still be on their way. The proxy keeps its grant as long.
const SessionTail = 10 * time.Minute

// sessionPrune is how often, at most, ended sessions are swept: a sweep
// per session would cost a scan per connection.
const sessionPrune = 10 * time.Second

// sessionRoute is the proxy that routed one session.
type sessionRoute struct {
	proxy string
	// ended is when the session's stream closed; zero while it lasts.
	ended time.Time
}

// BindSession records that proxy routed session id to this agent, so
// that the session's calls go through that proxy's tunnel; the returned
// function marks the session ended. It also forgets, now and then,
// sessions that ended more than SessionTail ago.
func (r *Remote) BindSession(id, proxy string) (end func()) {
	if id == "" {
		return func() {}
	}
	now := time.Now()
	route := &sessionRoute{proxy: proxy}
	r.mu.Lock()
	if r.sessions == nil {
		r.sessions = map[string]*sessionRoute{}
	}
	if now.Sub(r.lastPrune) >= sessionPrune {
		r.lastPrune = now
		for sid, s := range r.sessions {
			if !s.ended.IsZero() && now.Sub(s.ended) > SessionTail {
				delete(r.sessions, sid)
			}
		}
	}
	r.sessions[id] = route
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		route.ended = time.Now()
		r.mu.Unlock()
	}
}

// sessionCall runs fn through the tunnel of the proxy that routed the
// session. A session the agent does not know of (none in the call, or
// one forgotten) goes through any tunnel, like other calls, where the
// proxy decides. When the routing proxy's tunnel is down the call fails
// with codes.Unavailable: no other proxy would accept it.
func (r *Remote) sessionCall(ctx context.Context, sessionID string, fn func(apiv1.AgentClient) error) error {
	r.mu.RLock()
	proxy := r.routeLocked(sessionID)
	r.mu.RUnlock()
	return r.viaProxy(ctx, proxy, sessionID, fn)
}

// routeLocked returns the proxy that routed a session, "" when the agent
// does not know it; r.mu is held.
func (r *Remote) routeLocked(sessionID string) string {
	if route := r.sessions[sessionID]; route != nil {
		return route.proxy
	}
	return ""
}

// viaProxy runs fn through the tunnel of proxy, which routed sessionID;
// through any tunnel when proxy is "".
func (r *Remote) viaProxy(ctx context.Context, proxy, sessionID string, fn func(apiv1.AgentClient) error) error {
	if proxy == "" {
		return r.call(ctx, fn)
	}
	r.mu.RLock()
	var link *remoteLink
	for _, l := range r.links {
		if l.proxy == proxy {
			link = l
			break
		}
	}
	r.mu.RUnlock()
	if link == nil {
		return status.Errorf(codes.Unavailable, "the tunnel to the proxy %s, which routed session %s, is down", proxy, sessionID)
	}
	return fn(link.client)
}
