// Package audit is keyway's record of who connected to what, as whom,
// and what they ran. Events are JSON objects, one per line in the file
// sink; their fields are documented in docs/audit.md.
package audit

import (
	"context"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// Event names and codes.
const (
	SessionStart     = sdk.AuditSessionStart
	SessionEnd       = sdk.AuditSessionEnd
	SessionCancel    = sdk.AuditSessionCancel
	SessionQuery     = sdk.AuditSessionQuery
	SessionStatement = sdk.AuditSessionStatement
	AuthLogin        = "auth.login"
	UserCreate       = "user.create"
	UserUpdate       = "user.update"
	UserDelete       = "user.delete"
	UserLocked       = "user.locked"
	RoleCreate       = "role.create"
	RoleDelete       = "role.delete"
	DBCreate         = "db.create"
	DBDelete         = "db.delete"
	TokenCreate      = "token.create"
	TokenDelete      = "token.delete"
	HostDelete       = "host.delete"
	LockCreate       = "lock.create"
	LockDelete       = "lock.delete"
	SessionEnded     = "db.session.terminated"
	CertIssued       = "cert.issued"
	CARotated        = "ca.rotated"
	APIRateLimited   = "api.rate_limited"
	// AgentRefused is a call an agent made through its tunnel that was
	// not its to make (a decision, or audit events, for a session no
	// proxy routed to it); recorded at most once a minute per tunnel.
	AgentRefused = "agent.refused"
)

// Event is one audit record; plugins build the same type from the SDK.
type Event = sdk.AuditEvent

// Log receives events.
type Log interface {
	// Emit queues events; it blocks while the queue is full
	// (backpressure) and never drops one silently. It fails when the sink
	// is unavailable.
	Emit(ctx context.Context, events ...Event) error
	// EmitDurable returns once the events are durable (written and
	// synced): a session's start is, before its client is told.
	EmitDurable(ctx context.Context, events ...Event) error
}

// Searcher finds recorded events: the file sink's files or the database
// sink's table.
type Searcher interface {
	// Search returns the events that pass f, oldest first; with f.Limit
	// > 0, the newest f.Limit of them.
	Search(ctx context.Context, f Filter) ([]Event, error)
}

// Filter selects events for search.
type Filter struct {
	Type  string
	User  string
	DB    string
	Since time.Time
	Limit int
}

// Match reports whether e passes f.
func (f Filter) Match(e Event) bool {
	switch {
	case f.Type != "" && e.Event != f.Type:
		return false
	case f.User != "" && e.User != f.User:
		return false
	case f.DB != "" && e.DBService != f.DB:
		return false
	case !f.Since.IsZero() && e.Time.Before(f.Since):
		return false
	}
	return true
}
