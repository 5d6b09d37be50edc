// Package proxy is the cluster's one public address. It recognises
// PostgreSQL's SSLRequest on the same port as keyway's own TLS traffic,
// completes TLS with the proxy's host certificate, checks the client's
// certificate, and hands the session to the protocol plugin of the
// database its certificate routes to. Refusals also go to the plugin, so
// the client reads them in its own protocol.
package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"

	"github.com/keyway-dev/keyway/core/listener"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
)

// PostgreSQL startup codes the proxy recognises.
const (
	pgSSLRequest    = 80877103
	pgGSSENCRequest = 80877104
	pgCancelRequest = 80877102
)

// Routes finds where sessions go.
type Routes interface {
	// Database returns the database named name and the protocol plugin
	// serving it; found is false for an unknown database.
	Database(ctx context.Context, name string) (db sdk.Database, target Target, found bool, err error)
	// Protocol returns a protocol plugin by name, for sessions refused
	// before a database is known.
	Protocol(name string) (Target, error)
	// CancelTargets are every postgres plugin that may hold a session:
	// this process's and each connected agent's.
	CancelTargets() []Target
}

// Target takes sessions: a local protocol plugin or an agent's tunnel.
// Open returns the connection the proxy relays the client's stream to.
type Target interface {
	Open(ctx context.Context, s *Session) (net.Conn, error)
}

// Metrics is what the proxy reports: *metrics.Metrics from armon/go-metrics.
type Metrics interface {
	IncrCounterWithLabels(key []string, val float32, labels []metrics.Label)
	MeasureSinceWithLabels(key []string, start time.Time, labels []metrics.Label)
}

// Verifier checks a client's certificate chain and reads its route.
type Verifier interface {
	// Route checks the chain and returns the database it is for; a
	// failure is a sentence for the client.
	Route(ctx context.Context, chain [][]byte) (database string, err error)
}

// Proxy serves the public listener.
type Proxy struct {
	Logger      hclog.Logger
	Certificate func() *tls.Certificate
	Routes      Routes
	Verifier    Verifier
	// HandshakeTimeout bounds each connection from its accept until it
	// is handed over: the sniff, TLS, and the routing that follows.
	HandshakeTimeout time.Duration
	// Limits caps the connections in their handshake; a zero field
	// means no cap.
	Limits Limits
	// API serves a TLS connection negotiated for keyway's API.
	API func(conn *tls.Conn)
	// Tunnel serves an agent's tunnel connection.
	Tunnel func(conn *tls.Conn)
	// Metrics counts sessions and times handshakes.
	Metrics Metrics
	// HandClientTLS, when set, offers a PostgreSQL connection to the
	// postgres plugin before TLS, for the plugin to complete TLS and call
	// Admit through the host: the session's bytes then cross no other
	// process. It reports false when the plugin does not complete TLS
	// itself, and the proxy then does. The handshake is due by deadline.
	HandClientTLS func(ctx context.Context, conn net.Conn, s *Session, deadline time.Time) (bool, error)

	loop      listener.AcceptLoop
	admission atomic.Pointer[admission]
	// refusals counts connections refused over a cap since the last log
	// line about them, which refusedLog spaces out.
	refusals   atomic.Int64
	refusedLog rate.Sometimes
}

// refusedLogInterval spaces the log lines about refused connections, so
// a flood cannot flood the log too.
const refusedLogInterval = 10 * time.Second

// Serve accepts connections until ln is closed, and returns at once
// then: the sessions already handed over run on, owned by their
// handlers. Running out of descriptors does not end it.
func (p *Proxy) Serve(ln net.Listener) error {
	p.loop.Name, p.loop.Logger, p.loop.Metrics = "proxy", p.Logger, p.Metrics
	p.refusedLog.Interval = refusedLogInterval
	adm := newAdmission(p.Limits)
	p.admission.Store(adm)
	return p.loop.Serve(ln, func(conn net.Conn) {
		release, refused := adm.admit(conn.RemoteAddr())
		if refused != "" {
			_ = conn.Close()
			p.refuse(conn.RemoteAddr(), refused)
			return
		}
		go p.handle(conn, release)
	})
}

// Saturated reports whether the proxy cannot accept connections for
// want of descriptors or memory.
func (p *Proxy) Saturated() bool { return p.loop.Saturated() }

// Unauthenticated returns how many connections are in their handshake.
func (p *Proxy) Unauthenticated() int {
	if a := p.admission.Load(); a != nil {
		return a.count()
	}
	return 0
}

// refuse counts a connection closed over a cap, and logs the refusals
// at most once per refusedLogInterval.
func (p *Proxy) refuse(addr net.Addr, why string) {
	p.Metrics.IncrCounterWithLabels([]string{"proxy", "connections", "refused"}, 1, []metrics.Label{{Name: "limit", Value: why}})
	p.refusals.Add(1)
	p.refusedLog.Do(func() {
		p.Logger.Warn("closing connections over the cap on unauthenticated connections",
			"limit", why, "client", addr.String(), "refused_since_last_report", p.refusals.Swap(0),
			"max_unauthenticated", p.Limits.Total, "max_unauthenticated_per_address", p.Limits.PerAddress)
	})
}

// handle sniffs the first bytes and dispatches. release gives back the
// connection's place under the caps; it is called once the connection is
// handed over, and at the latest when handle returns.
func (p *Proxy) handle(conn net.Conn, release func()) {
	handedOver := false
	defer func() {
		if !handedOver {
			_ = conn.Close()
		}
		release()
	}()
	_ = conn.SetDeadline(time.Now().Add(p.HandshakeTimeout))
	var head [8]byte
	if _, err := io.ReadFull(conn, head[:1]); err != nil {
		return
	}
	if head[0] == tlsHandshakeRecord {
		handedOver = p.serveKeywayTLS(&prefixedConn{Conn: conn, prefix: head[:1]}, release)
		return
	}
	if head[0] != 0 {
		p.Logger.Debug("closing connection with unknown protocol", "client", conn.RemoteAddr().String(), "first_byte", head[0])
		return
	}
	if _, err := io.ReadFull(conn, head[1:]); err != nil {
		return
	}
	length := binary.BigEndian.Uint32(head[:4])
	code := binary.BigEndian.Uint32(head[4:])
	for length == 8 && code == pgGSSENCRequest {
		if _, err := conn.Write([]byte{'N'}); err != nil {
			return
		}
		if _, err := io.ReadFull(conn, head[:]); err != nil {
			return
		}
		length, code = binary.BigEndian.Uint32(head[:4]), binary.BigEndian.Uint32(head[4:])
	}
	if length == 8 && code == pgSSLRequest {
		if _, err := conn.Write([]byte{'S'}); err != nil {
			return
		}
		p.servePostgresTLS(conn, release)
		return
	}
	if length == 16 && code == pgCancelRequest {
		// A client's ctrl+c: the key it carries is its credential.
		msg := make([]byte, 16)
		copy(msg, head[:])
		if _, err := io.ReadFull(conn, msg[8:]); err != nil {
			return
		}
		p.broadcastCancel(conn, msg)
		return
	}
	// A StartupMessage without TLS.
	p.handRaw(conn, head[:], release, &sdk.Refusal{Kind: sdk.RefusalDenied,
		Message: "keyway accepts PostgreSQL connections only over TLS: connect with sslmode=verify-full and the certificate from keyway db login"})
}

// servePostgresTLS completes TLS and routes the session. A plugin that
// completes TLS itself gets the connection as it is instead: it holds its
// own descriptor, and the proxy's copy is closed on return; the plugin
// holds the client to the same handshake deadline.
func (p *Proxy) servePostgresTLS(raw net.Conn, release func()) {
	if p.HandClientTLS != nil {
		sess := newSession(raw, nil)
		ctx, cancel := context.WithTimeout(context.Background(), p.HandshakeTimeout)
		took, err := p.HandClientTLS(ctx, raw, sess, time.Now().Add(p.HandshakeTimeout))
		cancel()
		if err != nil {
			p.Logger.Error("cannot hand a client connection to the postgres plugin", "session", sess.ID, "error", err)
			return
		}
		if took {
			return
		}
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Any certificate is accepted by the handshake and checked below,
		// so a bad one gets a sentence in the client's protocol rather
		// than a bare TLS alert.
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return p.Certificate(), nil
		},
	}
	tc := tls.Server(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), p.HandshakeTimeout)
	defer cancel()
	start := time.Now()
	if err := tc.HandshakeContext(ctx); err != nil {
		p.Logger.Debug("TLS handshake failed", "client", raw.RemoteAddr().String(), "error", err)
		p.Metrics.IncrCounterWithLabels([]string{"proxy", "sessions"}, 1, []metrics.Label{{Name: "result", Value: "handshake_failed"}})
		return
	}
	p.Metrics.MeasureSinceWithLabels([]string{"proxy", "handshake"}, start, []metrics.Label{{Name: "protocol", Value: "postgres"}})
	var chain [][]byte
	for _, c := range tc.ConnectionState().PeerCertificates {
		chain = append(chain, c.Raw)
	}
	sess := newSession(raw, chain)
	target, refusal := p.Admit(ctx, sess)
	if refusal != nil {
		p.refuseTLS(tc, sess, release, refusal)
		return
	}
	p.pipe(tc, target, sess, release)
}

// Admit checks a session's client certificate and finds the database it
// routes to: it sets s.Database and returns the target serving it, or a
// refusal for the client.
func (p *Proxy) Admit(ctx context.Context, s *Session) (Target, *sdk.Refusal) {
	name, err := p.Verifier.Route(ctx, s.Chain)
	if err != nil {
		return nil, p.refused(sdk.RefusalDenied, "keyway: "+err.Error())
	}
	db, target, found, err := p.Routes.Database(ctx, name)
	switch {
	case err != nil:
		return nil, p.refused(sdk.RefusalUnavailable, "keyway: database "+name+" is unavailable: "+err.Error())
	case !found:
		return nil, p.refused(sdk.RefusalNotFound, "keyway: database "+name+" is not registered in this cluster; keyway db ls lists the databases you can reach")
	}
	s.Database = &db
	p.Metrics.IncrCounterWithLabels([]string{"proxy", "sessions"}, 1, []metrics.Label{{Name: "result", Value: "routed"}})
	return target, nil
}

// refused counts a refusal and returns it.
func (p *Proxy) refused(kind, msg string) *sdk.Refusal {
	p.Metrics.IncrCounterWithLabels([]string{"proxy", "sessions"}, 1, []metrics.Label{{Name: "result", Value: kind}})
	return &sdk.Refusal{Kind: kind, Message: msg}
}

// refuseTLS hands a refused TLS session to the postgres plugin so it
// reports the refusal in the protocol.
func (p *Proxy) refuseTLS(tc *tls.Conn, sess *Session, release func(), refusal *sdk.Refusal) {
	target, err := p.Routes.Protocol("postgres")
	if err != nil {
		p.Logger.Error("cannot report a refusal", "error", err)
		return
	}
	sess.Refusal = refusal
	p.pipe(tc, target, sess, release)
}

// broadcastCancel passes a CancelRequest to every plugin that may serve
// its session; only the one that handed out the key acts on it. A cancel
// gets no answer, as in PostgreSQL.
func (p *Proxy) broadcastCancel(conn net.Conn, msg []byte) {
	sess := newSession(conn, nil)
	sess.Prefix = bytes.Clone(msg)
	for _, t := range p.Routes.CancelTargets() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := t.Open(ctx, sess)
		cancel()
		if err != nil {
			p.Logger.Debug("cannot pass a cancel request on", "error", err)
			continue
		}
		_ = c.Close()
	}
}

// handRaw hands a plaintext connection to the postgres plugin, with the
// bytes already read as the prefix: a cancel request, or a refusal.
func (p *Proxy) handRaw(conn net.Conn, prefix []byte, release func(), refusal *sdk.Refusal) {
	target, err := p.Routes.Protocol("postgres")
	if err != nil {
		p.Logger.Error("cannot hand a plaintext connection to the postgres plugin", "error", err)
		return
	}
	sess := newSession(conn, nil)
	sess.Prefix = bytes.Clone(prefix)
	sess.Refusal = refusal
	p.pipe(conn, target, sess, release)
}

// pipe connects the client stream to its target and copies between them
// until either side ends. The session is handed over, and leaves the
// caps on unauthenticated connections, once its target took it.
func (p *Proxy) pipe(client net.Conn, target Target, sess *Session, release func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	peer, err := target.Open(ctx, sess)
	cancel()
	if err != nil {
		p.Logger.Error("cannot hand the session on", "session", sess.ID, "error", err)
		return
	}
	defer func() { _ = peer.Close() }()
	_ = client.SetDeadline(time.Time{})
	release()
	sdk.Relay(client, peer)
}

// serveKeywayTLS completes TLS for keyway's own protocols and dispatches
// by ALPN: the API, or an agent's tunnel. It reports whether the
// connection was handed over to a server that now owns it. The API's
// server holds a connection to its own deadlines from then on (see
// core/server's API options); a tunnel's handler checks the agent's
// certificate at once.
func (p *Proxy) serveKeywayTLS(raw net.Conn, release func()) bool {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{tunnel.ALPNAPI, tunnel.ALPNTunnel},
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return p.Certificate(), nil
		},
	}
	tc := tls.Server(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), p.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		p.Logger.Debug("TLS handshake failed", "client", raw.RemoteAddr().String(), "error", err)
		return false
	}
	switch tc.ConnectionState().NegotiatedProtocol {
	case tunnel.ALPNAPI:
		if p.API != nil {
			_ = raw.SetDeadline(time.Time{})
			release()
			p.API(tc)
			return true
		}
	case tunnel.ALPNTunnel:
		if p.Tunnel != nil {
			_ = raw.SetDeadline(time.Time{})
			release()
			p.Tunnel(tc)
			return false
		}
	}
	p.Logger.Debug("closing TLS connection without a known protocol", "client", raw.RemoteAddr().String(), "alpn", tc.ConnectionState().NegotiatedProtocol)
	return false
}

// tlsHandshakeRecord is the first byte of a TLS ClientHello.
const tlsHandshakeRecord = 0x16

// prefixedConn returns prefix before reading from Conn.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
