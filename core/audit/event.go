// Package audit is keyway's record of who connected to what, as whom,
// and what they ran. Events are JSON objects, one per line in the file
// sink; their fields are documented in docs/audit.md.
package audit

import (
	"context"
	"time"
)

// Event names and codes.
const (
	SessionStart  = "db.session.start"
	SessionEnd    = "db.session.end"
	SessionCancel = "db.session.cancel"
	SessionQuery  = "db.session.query"
	// SessionStatement is one executed extended-protocol statement:
	// Parse, Bind and Execute correlated into one event.
	SessionStatement = "db.session.statement"
	AuthLogin        = "auth.login"
	UserCreate       = "user.create"
	UserUpdate       = "user.update"
	UserDelete       = "user.delete"
	RoleCreate       = "role.create"
	RoleDelete       = "role.delete"
	TokenCreate      = "token.create"
	TokenDelete      = "token.delete"
	CertIssued       = "cert.issued"
	CARotated        = "ca.rotated"
)

// Event is one audit record. Fields that do not apply are empty.
type Event struct {
	Event   string    `json:"event"`
	Code    string    `json:"code"`
	Time    time.Time `json:"time"`
	Cluster string    `json:"cluster"`
	// Success is false for failed logins, refused sessions and failed
	// statements.
	Success bool   `json:"success"`
	Error   string `json:"error,omitempty"`

	SessionID string `json:"sid,omitempty"`
	// Index orders the events of one session.
	Index int64 `json:"ei,omitempty"`

	User       string `json:"user,omitempty"`
	SpiffeID   string `json:"spiffe_id,omitempty"`
	ClientAddr string `json:"client_addr,omitempty"`

	DBService  string `json:"db_service,omitempty"`
	DBProtocol string `json:"db_protocol,omitempty"`
	DBURI      string `json:"db_uri,omitempty"`
	DBUser     string `json:"db_user,omitempty"`
	DBName     string `json:"db_name,omitempty"`

	// Query is the statement text (Query, or Parse of a statement).
	Query string `json:"query,omitempty"`
	// Parameters are a statement's bound values: text as text, binary as
	// base64; Truncated says some were cut at the configured size.
	Parameters []string `json:"parameters,omitempty"`
	Truncated  bool     `json:"truncated,omitempty"`
	// RowsAffected is from the statement's CommandComplete tag.
	RowsAffected int64  `json:"rows_affected,omitempty"`
	CommandTag   string `json:"command_tag,omitempty"`

	// Session end: duration and bytes each way.
	DurationMS    int64  `json:"duration_ms,omitempty"`
	BytesIn       int64  `json:"bytes_in,omitempty"`
	BytesOut      int64  `json:"bytes_out,omitempty"`
	Reason        string `json:"reason,omitempty"`
	TargetSubject string `json:"target,omitempty"`
}

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
