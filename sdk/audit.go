package sdk

import "time"

// Audit event names.
const (
	AuditSessionStart  = "db.session.start"
	AuditSessionEnd    = "db.session.end"
	AuditSessionCancel = "db.session.cancel"
	AuditSessionQuery  = "db.session.query"
	// AuditSessionStatement is one executed extended-protocol statement:
	// its Parse, Bind and Execute correlated into one event.
	AuditSessionStatement = "db.session.statement"
)

// What a protocol plugin records of its database sessions
// (ConfigureRequest.AuditDBEvents).
const (
	// AuditDBEventsAll records session starts and ends and every
	// statement. An empty setting means the same.
	AuditDBEventsAll = "all"
	// AuditDBEventsSessions records session starts and ends only.
	AuditDBEventsSessions = "sessions"
	// AuditDBEventsNone records no database session events at all.
	AuditDBEventsNone = "none"
)

// AuditEvent is one audit record, as documented in docs/audit.md. A
// protocol plugin fills what it knows; the host adds the cluster and, if
// missing, the time.
type AuditEvent struct {
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

	// Query is the statement text (of a Query, or of a statement's Parse).
	Query string `json:"query,omitempty"`
	// Parameters are a statement's bound values: text as text, binary as
	// base64; Truncated says some were cut at the configured size.
	Parameters []string `json:"parameters,omitempty"`
	Truncated  bool     `json:"truncated,omitempty"`
	// RowsAffected and CommandTag come from the CommandComplete.
	RowsAffected int64  `json:"rows_affected,omitempty"`
	CommandTag   string `json:"command_tag,omitempty"`

	// Session end: duration and bytes each way.
	DurationMS int64  `json:"duration_ms,omitempty"`
	BytesIn    int64  `json:"bytes_in,omitempty"`
	BytesOut   int64  `json:"bytes_out,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Target     string `json:"target,omitempty"`

	// CAPin is the pin (sha256 of the SubjectPublicKeyInfo) of an
	// authority's new key after a rotation; GraceEnds is when its old key
	// stops being trusted.
	CAPin     string     `json:"ca_pin,omitempty"`
	GraceEnds *time.Time `json:"grace_ends,omitempty"`
}
