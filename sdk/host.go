package sdk

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Host is the core's service to its plugins: control-plane callbacks only,
// a few per session at most, never one per message.
type Host interface {
	// Log writes a record into the core's log under the plugin's name.
	Log(ctx context.Context, level hclog.Level, msg string, keyvals ...string) error
	// Authorize asks whether a session may use a database as a database
	// user and logical database.
	Authorize(ctx context.Context, req AuthorizeRequest) (Authorization, error)
	// DatabaseCertificate returns a client certificate (CN = DBUser) and
	// key for certificate authentication to a database, for the session
	// that needs it first. Cache it: the host signs a new one on each
	// call. On an agent, the cluster signs only for a session it routed
	// to the agent and authorized for that database user.
	DatabaseCertificate(ctx context.Context, req DatabaseCertificateRequest) (DatabaseCertificate, error)
	// AuditDurable records events and returns once they are durable.
	AuditDurable(ctx context.Context, events ...AuditEvent) error
	// Audit queues events; they travel to the host in batches. It blocks
	// while the queue is full, and never drops.
	Audit(ctx context.Context, events ...AuditEvent) error
	// AuditQueued is Audit that also returns a ticket for the events.
	// Neither keeps events, nor ctx, once it returns: callers reuse
	// them.
	AuditQueued(ctx context.Context, events ...AuditEvent) (AuditTicket, error)
	// AuditWait returns once the events of the ticket, and every event
	// queued before them, are in the host's hands: they reach the audit
	// log even if the plugin is killed right after. A protocol plugin
	// waits for a statement's event before the statement's answer reaches
	// the client. The wait costs one write to a socket, shared by all the
	// events queued by then; it is no call to the host. (On a host older
	// than this SDK it returns at once and promises nothing.)
	AuditWait(ctx context.Context, t AuditTicket) error
}

// AuditTicket names the events of one AuditQueued call, for AuditWait.
type AuditTicket uint64

// AuthorizeRequest describes a session's use of a database.
type AuthorizeRequest struct {
	SessionID          string
	ClientCertificates [][]byte
	Database           string
	DBUser             string
	DBName             string
	ClientAddr         string
}

// Authorization is the cluster's decision.
type Authorization struct {
	Allow bool
	// Message is a sentence for the client: what was decided and why.
	Message string
	Reasons []Reason
	// IdleTimeout, when positive, is how long the session may go without
	// traffic from its client (the roles' idle_timeout); the plugin ends
	// it then (Session.EndWhenIdle).
	IdleTimeout time.Duration
	// Refusal is the kind of a refusal that is not a denial by role
	// (RefusalTooManySessions); "" otherwise.
	Refusal string
}

// RefusalKind is the kind of refusal a session that is not allowed
// gets: RefusalDenied unless the host named another.
func (a Authorization) RefusalKind() string {
	if a.Refusal != "" {
		return a.Refusal
	}
	return RefusalDenied
}

// DatabaseCertificateRequest asks for a database client certificate.
type DatabaseCertificateRequest struct {
	// SessionID is the session the certificate is first used for, the
	// one Authorize allowed.
	SessionID string
	Database  string
	DBUser    string
}

// DatabaseCertificate is a client certificate for a database.
type DatabaseCertificate struct {
	CertPEM  []byte
	KeyPEM   []byte
	NotAfter time.Time
}
