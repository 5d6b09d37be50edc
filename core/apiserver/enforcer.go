package apiserver

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// EnforceEvery is how often the enforcer looks at the live sessions: a
// lock, an expiry or a change of users and roles ends a session within
// about this long plus the time its plugin takes to tell the client.
const EnforceEvery = 500 * time.Millisecond

// SessionEnder ends sessions where they are served.
type SessionEnder interface {
	// EndSessions ends the named sessions of a protocol, served by
	// agent ("" for this process), with a reason.
	EndSessions(ctx context.Context, agent, protocol string, ids []string, r sdk.EndReason) error
	// LocalSessions lists the sessions this process's plugin of a
	// protocol serves now.
	LocalSessions(ctx context.Context, protocol string) (map[string]bool, error)
}

// Enforcer ends the live sessions whose access was taken away: by a
// lock, by the expiry of the client's certificate, or by a change of
// users or roles after which they would no longer be allowed.
type Enforcer struct {
	S      *Server
	Ender  SessionEnder
	Logger hclog.Logger
	// KeepExpired lets sessions outlive their client certificate.
	KeepExpired bool

	// seen is a digest of the users and roles the sessions were last
	// authorised against.
	seen uint64
}

// Run checks the sessions every EnforceEvery until ctx ends.
func (e *Enforcer) Run(ctx context.Context) {
	t := time.NewTicker(EnforceEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.Check(ctx)
		}
	}
}

// endGroup is the sessions one call ends.
type endGroup struct {
	agent, protocol string
	reason          sdk.EndReason
}

// Check looks at every live session once and ends those that lost
// their access.
func (e *Enforcer) Check(ctx context.Context) {
	sessions := e.S.Live.snapshot()
	if len(sessions) == 0 {
		return
	}
	now := e.S.now()
	sessions = e.prune(ctx, sessions, now, 2*time.Second)
	locks, err := e.S.Auth.Locks(ctx)
	if err != nil {
		// New sessions are refused meanwhile (Authorize fails closed);
		// live ones are ended once the locks can be read again.
		e.Logger.Warn("cannot read the locks; new sessions are refused until they can be read", "error", err)
		return
	}
	recheck := e.changed(ctx)
	groups := map[endGroup][]LiveSession{}
	for _, s := range sessions {
		if r, end := e.reason(ctx, s, now, locks, recheck); end {
			g := endGroup{agent: s.Agent, protocol: s.Database.Protocol, reason: r}
			groups[g] = append(groups[g], s)
		}
	}
	for g, list := range groups {
		ids := make([]string, len(list))
		for i, s := range list {
			ids[i] = s.ID
		}
		err := e.Ender.EndSessions(ctx, g.agent, g.protocol, ids, g.reason)
		if err != nil {
			e.Logger.Warn("cannot end sessions; trying again", "agent", g.agent, "sessions", len(ids), "error", err)
			continue
		}
		e.S.Live.remove(ids...)
		for _, s := range list {
			e.S.record(ctx, audit.Event{Event: audit.SessionEnded, Code: "T2010W", SessionID: s.ID, User: s.Identity.Name,
				SpiffeID: s.Identity.ID.String(), DBService: s.Database.Name, DBUser: s.Request.DBUser,
				Reason: g.reason.Kind + ": " + g.reason.Message}, nil)
		}
	}
}

// Running returns the sessions given that still run and forgets the
// others, asking the plugins and the grants now: a limit is checked
// against it (LiveSessions.Running). A session is in its plugin's list
// before it asks to be authorised, so none is too young to be told.
func (e *Enforcer) Running(ctx context.Context, sessions []LiveSession) []LiveSession {
	return e.prune(ctx, sessions, e.S.now(), 0)
}

// prune forgets the sessions that ended by themselves. Sessions added
// less than settle ago are kept without asking.
func (e *Enforcer) prune(ctx context.Context, sessions []LiveSession, now time.Time, settle time.Duration) []LiveSession {
	local := map[string]map[string]bool{}
	var gone []string
	out := sessions[:0]
	for _, s := range sessions {
		ended := false
		switch {
		case now.Sub(s.added) < settle:
			// Too young to be told from one still starting.
		case s.Agent != "":
			ended = e.S.Grants == nil || e.S.Grants.ended(s.ID)
		default:
			ids, ok := local[s.Database.Protocol]
			if !ok {
				var err error
				if ids, err = e.Ender.LocalSessions(ctx, s.Database.Protocol); err != nil {
					ids = nil
				}
				local[s.Database.Protocol] = ids
			}
			ended = ids != nil && !ids[s.ID]
		}
		if ended {
			gone = append(gone, s.ID)
			continue
		}
		out = append(out, s)
	}
	e.S.Live.remove(gone...)
	return out
}

// reason decides whether a session must end, and why.
func (e *Enforcer) reason(ctx context.Context, s LiveSession, now time.Time, locks []auth.Lock, recheck bool) (sdk.EndReason, bool) {
	if !e.KeepExpired && !s.NotAfter.IsZero() && now.After(s.NotAfter) {
		return sdk.EndReason{Kind: sdk.EndExpired, Message: fmt.Sprintf(
			"keyway: the client certificate of %s expired at %s, so the session is closed; run keyway db login %s for a new one",
			s.Identity.Name, s.NotAfter.UTC().Format(time.RFC3339), s.Database.Name)}, true
	}
	for _, l := range locks {
		if l.Covers(s.Identity.Name, s.Identity.Roles, s.Database.Name, s.Agent) {
			return sdk.EndReason{Kind: sdk.EndLocked, Message: l.Sentence()}, true
		}
	}
	if !recheck {
		return sdk.EndReason{}, false
	}
	if msg := e.S.userChanged(ctx, s.Identity); s.Stored && msg != "" {
		return sdk.EndReason{Kind: sdk.EndRevoked, Message: msg}, true
	}
	d := e.S.Authorizer.AuthorizeIdentity(ctx, s.Identity, s.Request)
	if !d.Allow {
		return sdk.EndReason{Kind: sdk.EndRevoked, Message: d.Message + "; the session is closed"}, true
	}
	return sdk.EndReason{}, false
}

// changed reports whether users or roles changed since the last call.
func (e *Enforcer) changed(ctx context.Context) bool {
	h := fnv.New64a()
	for _, prefix := range []string{"users/", "roles/"} {
		kvs, err := e.S.Auth.State.List(ctx, prefix)
		if err != nil {
			return false
		}
		for _, kv := range kvs {
			_, _ = fmt.Fprintf(h, "%s@%d;", kv.Key, kv.Revision)
		}
	}
	sum := h.Sum64()
	if sum == e.seen {
		return false
	}
	e.seen = sum
	return true
}

// userChanged is why a user's session is no longer allowed by the
// stored user: removed, or no longer holding a role the certificate
// names. It is "" when nothing is wrong, and for bots, which have no
// stored record.
func (s *Server) userChanged(ctx context.Context, id identity.Identity) string {
	if id.Kind != identity.KindUser || s.Auth == nil {
		return ""
	}
	u, err := s.Auth.GetUser(ctx, id.Name)
	if errors.Is(err, auth.ErrUserNotFound) {
		return "keyway: user " + id.Name + " was removed, so the session is closed"
	}
	if err != nil {
		return ""
	}
	for _, r := range id.Roles {
		if !slices.Contains(u.Roles, r) {
			return "keyway: user " + id.Name + " no longer holds role " + r + ", so the session is closed"
		}
	}
	return ""
}

// lockOf returns the first lock covering a request, or an error when
// the locks cannot be read: callers then refuse (fail closed).
func (s *Server) lockOf(ctx context.Context, user string, roles []string, db, agent string) (*auth.Lock, error) {
	if s.Auth == nil {
		return nil, nil
	}
	locks, err := s.Auth.Locks(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range locks {
		if l.Covers(user, roles, db, agent) {
			return &l, nil
		}
	}
	return nil, nil
}

// lockedSentence is what a request a lock covers is told, or "" when
// none does; when the locks cannot be read, the request is refused with
// that reason.
func (s *Server) lockedSentence(ctx context.Context, id identity.Identity, db, agent string) string {
	l, err := s.lockOf(ctx, id.Name, id.Roles, db, agent)
	switch {
	case err != nil:
		return "keyway cannot read its locks, so access is refused until it can: " + err.Error()
	case l != nil:
		return l.Sentence()
	}
	return ""
}

// storedUser reports whether an identity is a user with a stored record.
func (s *Server) storedUser(ctx context.Context, id identity.Identity) bool {
	if id.Kind != identity.KindUser || s.Auth == nil {
		return false
	}
	_, err := s.Auth.GetUser(ctx, id.Name)
	return err == nil
}
