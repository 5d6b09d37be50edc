package sdk

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// ProtocolPlugin speaks a wire protocol. The host accepts client
// connections and hands each one to the plugin, which then owns it: the
// session's bytes never pass through the host again.
type ProtocolPlugin interface {
	Plugin
	// ServeSession handles one client connection until it ends. It is
	// called on its own goroutine; ctx is cancelled when the plugin is
	// shutting down. The session's Conn is closed when it returns.
	ServeSession(ctx context.Context, s *Session)
}

// PreTLS is implemented by protocol plugins whose clients do not start
// TLS by themselves: where the server speaks first (MySQL greets the
// client, which then asks for TLS inside the protocol), the plugin runs
// that exchange on the raw connection before the SDK completes TLS and
// asks the host to admit the session. BeforeTLS returns what the exchange
// settled, in the plugin's own encoding; it reaches the plugin that
// serves the session as Session.Preface, also when the host relays the
// session to an agent. An error ends the connection: the plugin has told
// the client why.
type PreTLS interface {
	BeforeTLS(ctx context.Context, conn net.Conn) (preface []byte, err error)
}

// Session is one client connection handed to a protocol plugin.
type Session struct {
	ID         string
	Listener   string
	ClientAddr string
	LocalAddr  string
	AcceptedAt time.Time
	// Conn is the client connection. Bytes the host read while
	// identifying the protocol are returned first by Read.
	Conn net.Conn
	// ClientCertificates is the client's certificate chain (DER, leaf
	// first) as verified by the host against the user authority; empty
	// when the host did not authenticate the client.
	ClientCertificates [][]byte
	// Database is the database the session is for, nil when the listener
	// serves no database.
	Database *Database
	// Refusal, when set, means the host refuses the session: tell the
	// client in the protocol's own words and return.
	Refusal *Refusal
	// Preface is what the plugin's BeforeTLS returned for this session,
	// nil when the client started TLS by itself or keyway's own TLS
	// carried the session.
	Preface []byte
	// KeyTag is the route tag of this session: a plugin that issues the
	// client a key for out-of-band requests (PostgreSQL's cancel key)
	// puts these KeyTagSize bytes in it, at the place its preamble's
	// KeyTagOffset names, so that the host can pass such a request to this
	// plugin alone, also when the session runs on an agent.
	KeyTag []byte
	// Metrics are the plugin's own metrics, shared by all its sessions;
	// the host exports them (see Metrics).
	Metrics *Metrics

	counters *counters
	// end is the session's end signal; nil for a Session the host did
	// not hand over.
	end *ending
}

// CountFromClient adds n bytes received from the client to the plugin's
// statistics.
func (s *Session) CountFromClient(n int) {
	if s.counters != nil {
		s.counters.fromClient.Add(uint64(n))
	}
	if s.end != nil && n > 0 {
		s.end.lastClient.Store(time.Now().UnixNano())
		s.end.busy.Store(true)
	}
}

// CountToClient adds n bytes sent to the client to the plugin's
// statistics.
func (s *Session) CountToClient(n int) {
	if s.counters != nil {
		s.counters.toClient.Add(uint64(n))
	}
}

// counters are a protocol plugin's running totals, reported by Stats.
type counters struct {
	total, active        atomic.Uint64
	fromClient, toClient atomic.Uint64
}

// prefixConn returns prefix before reading from the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Database is a registered database and how to reach it.
type Database struct {
	Name        string
	Description string
	Protocol    string
	// URI is HOST:PORT.
	URI    string
	Labels map[string]string
	Trust  ServerTrust
	// Pool, when set, asks the plugin to keep server connections after a
	// client session ends and reuse them for later sessions.
	Pool *DatabasePool
}

// PoolModeSession is the pool mode in which a server connection serves
// one client session at a time, reset between sessions.
const PoolModeSession = "session"

// DatabasePool is how a plugin keeps a database's server connections
// between client sessions.
type DatabasePool struct {
	// Mode is PoolModeSession.
	Mode string
	// MaxIdle caps the idle connections kept for the database.
	MaxIdle int
	// IdleTimeout is how long an idle connection is kept.
	IdleTimeout time.Duration
}

// Refusal is the host's reason for refusing a session.
type Refusal struct {
	// Kind is RefusalDenied, RefusalNotFound, RefusalUnavailable,
	// RefusalInternal, RefusalPlaintext or RefusalTooManySessions.
	Kind    string
	Message string
}

// Kinds of refusal, so a plugin can pick its protocol's error code.
const (
	RefusalDenied      = "denied"
	RefusalNotFound    = "not_found"
	RefusalUnavailable = "unavailable"
	RefusalInternal    = "internal"
	// RefusalPlaintext is a client that did not ask for TLS; the plugin
	// tells it how to connect in its protocol's terms.
	RefusalPlaintext = "plaintext"
	// RefusalTooManySessions is a user holding as many sessions as a
	// role's max_connections allows; the client may retry later.
	RefusalTooManySessions = "too_many_sessions"
)
