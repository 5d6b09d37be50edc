// Package proxy is the cluster's one public address. On its shared port
// it tells keyway's own TLS from the first bytes of the protocols its
// plugins declared (their preambles), answers them as declared, completes
// TLS with the proxy's host certificate, checks the client's certificate,
// and hands the session to the protocol plugin of the database its
// certificate routes to. Protocols whose server speaks first get ports of
// their own, whose connections go to their plugin before TLS. Refusals
// also go to the plugin, so the client reads them in its own protocol.
// The proxy itself knows no protocol.
package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"

	"github.com/keyway-dev/keyway/core/listener"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
)

// Routes finds where sessions go.
type Routes interface {
	// Database returns the database named name and the protocol plugin
	// serving it; found is false for an unknown database.
	Database(ctx context.Context, name string) (db sdk.Database, target Target, found bool, err error)
	// Protocol returns this process's plugin of the protocol called name,
	// for sessions refused before a database is known.
	Protocol(name string) (Target, error)
	// OutOfBandTargets are the plugins of the protocol called name that
	// may hold the session an out-of-band request is for: those of this
	// process and of the connected agents whose route tag (KeyTag) is
	// tag, or all of them when tag is nil.
	OutOfBandTargets(name string, tag []byte) []Target
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
	// Protocols are the preambles the shared port matches, as the
	// protocol plugins declared them.
	Protocols []Protocol
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
	// Data takes a data connection an agent dialled for a session to
	// come (tunnel.ALPNData); it owns the connection from then on.
	Data func(conn *tls.Conn)
	// Metrics counts sessions and times handshakes.
	Metrics Metrics
	// HandClientTLS, when set, offers a connection before TLS to this
	// process's plugin of protocol, for the plugin to complete TLS and
	// call Admit through the host: the session's bytes then cross no
	// other process. It reports false when the plugin does not complete
	// TLS itself, and the proxy then does. The handshake is due by
	// deadline.
	HandClientTLS func(ctx context.Context, conn net.Conn, s *Session, protocol string, deadline time.Time) (bool, error)

	loop listener.AcceptLoop
	// admission holds the caps, shared by the shared port and the
	// protocols' own ports; once makes it.
	admission atomic.Pointer[admission]
	once      sync.Once
	// keywayTLS is the configuration of keyway's own protocols, made
	// once (keywayOnce) so that its session ticket keys last.
	keywayOnce sync.Once
	keywayTLS  *tls.Config
	// ownLoops accept on the protocols' own ports.
	mu       sync.Mutex
	ownLoops []*listener.AcceptLoop
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
	return p.loop.Serve(ln, p.admitted(p.handle))
}

// admitted takes each accepted connection's place under the caps, or
// closes it at once when a cap is reached, and runs serve on the
// connections it admits; serve gives the place back with release.
func (p *Proxy) admitted(serve func(conn net.Conn, release func())) func(net.Conn) {
	adm := p.caps()
	return func(conn net.Conn) {
		release, refused := adm.admit(conn.RemoteAddr())
		if refused != "" {
			_ = conn.Close()
			p.refuse(conn.RemoteAddr(), refused)
			return
		}
		go serve(conn, release)
	}
}

// caps returns the caps on connections in their handshake, made on first
// use.
func (p *Proxy) caps() *admission {
	p.once.Do(func() {
		p.refusedLog.Interval = refusedLogInterval
		p.admission.Store(newAdmission(p.Limits))
	})
	return p.admission.Load()
}

// Saturated reports whether the proxy cannot accept connections, on its
// shared port or a protocol's own, for want of descriptors or memory.
func (p *Proxy) Saturated() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.ownLoops {
		if l.Saturated() {
			return true
		}
	}
	return p.loop.Saturated()
}

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

// maxAnswers bounds the preambles a client may send that the proxy
// answers and then waits for the next (such as a declined encryption
// request), so that a client cannot keep a handshake place by sending
// them forever.
const maxAnswers = 4

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
	var first [1]byte
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		return
	}
	if first[0] == tlsHandshakeRecord {
		handedOver = p.serveKeywayTLS(&prefixedConn{Conn: conn, prefix: first[:]}, release)
		return
	}
	head := first[:]
	for range maxAnswers {
		m, bytes, err := sniff(conn, head, p.Protocols)
		if err != nil {
			if errors.Is(err, errUnknownPreamble) {
				p.Logger.Debug("closing a connection whose first bytes no protocol plugin declared", "client", conn.RemoteAddr().String(), "first_bytes", fmt.Sprintf("%x", bytes))
			}
			return
		}
		switch m.preamble.Action {
		case sdk.PreambleAnswer:
			if _, err := conn.Write(m.preamble.Reply); err != nil {
				return
			}
			var next [1]byte
			if _, err := io.ReadFull(conn, next[:]); err != nil {
				return
			}
			head = next[:]
			continue
		case sdk.PreambleTLS:
			if _, err := conn.Write(m.preamble.Reply); err != nil {
				return
			}
			handedOver = p.serveTLS(conn, m.protocol, release)
		case sdk.PreambleOutOfBand:
			p.outOfBand(conn, m.protocol, bytes, keyTagOf(m.preamble, bytes))
		case sdk.PreamblePlaintext:
			handedOver = p.handRaw(conn, m.protocol, bytes, release, &sdk.Refusal{Kind: sdk.RefusalPlaintext,
				Message: "keyway accepts connections only over TLS: connect with the certificate from keyway db login, or through keyway proxy db"})
		}
		return
	}
	p.Logger.Debug("closing a connection that sent more preambles than the proxy answers", "client", conn.RemoteAddr().String())
}

// serveTLS completes TLS for a client of protocol and routes the
// session. A plugin that completes TLS itself gets the connection as it
// is instead: it holds its own descriptor, and the proxy's copy is closed
// on return; the plugin holds the client to the same handshake deadline.
// It reports whether a relay took the connection (see pipe).
func (p *Proxy) serveTLS(raw net.Conn, protocol string, release func()) bool {
	if took, err := p.handBeforeTLS(raw, protocol); took || err != nil {
		return false
	}
	tc := tls.Server(raw, p.serverTLS(nil))
	ctx, cancel := context.WithTimeout(context.Background(), p.HandshakeTimeout)
	defer cancel()
	start := time.Now()
	if err := tc.HandshakeContext(ctx); err != nil {
		p.Logger.Debug("TLS handshake failed", "client", raw.RemoteAddr().String(), "error", err)
		p.Metrics.IncrCounterWithLabels([]string{"proxy", "sessions"}, 1, []metrics.Label{{Name: "result", Value: "handshake_failed"}})
		return false
	}
	p.Metrics.MeasureSinceWithLabels([]string{"proxy", "handshake"}, start, []metrics.Label{{Name: "protocol", Value: protocol}})
	sess := newSession(raw, peerChain(tc))
	target, refusal := p.Admit(ctx, sess)
	if refusal != nil {
		return p.refuseTLS(tc, sess, protocol, release, refusal)
	}
	peer, err := p.open(target, sess)
	if err != nil {
		// The client hears why in its own protocol, from this process's
		// plugin, rather than a closed connection.
		return p.refuseTLS(tc, sess, protocol, release, p.refused(sdk.RefusalUnavailable, "keyway: database "+sess.Database.Name+" is unavailable: "+err.Error()))
	}
	p.start(tc, peer, release)
	return true
}

// serverTLS is the proxy's TLS configuration, offering alpn.
func (p *Proxy) serverTLS(alpn []string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: alpn,
		// Any certificate is accepted by the handshake and checked
		// afterwards, so a bad one gets a sentence in the client's
		// protocol rather than a bare TLS alert.
		ClientAuth: tls.RequestClientCert,
		// No client resumes a session here, so no ticket is made: each
		// would cost encrypting the client's certificates and a record
		// on every connection.
		SessionTicketsDisabled: true,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return p.Certificate(), nil
		},
	}
}

// keywayConfig is the TLS configuration of keyway's own protocols. Data
// connections, which an agent dials ahead for every session, resume the
// TLS session of an earlier one: the proxy sends them a ticket, and a
// resumed connection proves the agent's key through the ticket's secret
// rather than signatures, certificates and their checks. Its chain,
// carried in the ticket, is checked against the host authority as a full
// handshake's is (Data's owner does), and crypto/tls resumes no session
// whose certificate has expired. Other connections get no ticket, as on
// serverTLS. The configuration is made once: the ticket keys are its own,
// rotated by crypto/tls.
func (p *Proxy) keywayConfig() *tls.Config {
	p.keywayOnce.Do(func() {
		alpn := []string{tunnel.ALPNAPI, tunnel.ALPNTunnel, tunnel.ALPNData, tunnel.ALPNDB}
		noTickets := p.serverTLS(alpn)
		cfg := p.serverTLS(alpn)
		cfg.SessionTicketsDisabled = false
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == tunnel.ALPNData {
				return nil, nil
			}
			return noTickets, nil
		}
		p.keywayTLS = cfg
	})
	return p.keywayTLS
}

// peerChain is the client's certificate chain, DER, leaf first.
func peerChain(tc *tls.Conn) [][]byte {
	var chain [][]byte
	for _, c := range tc.ConnectionState().PeerCertificates {
		chain = append(chain, c.Raw)
	}
	return chain
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

// refuseTLS hands a refused TLS session to the plugin of its protocol
// so it reports the refusal in the protocol.
func (p *Proxy) refuseTLS(tc *tls.Conn, sess *Session, protocol string, release func(), refusal *sdk.Refusal) bool {
	target, err := p.Routes.Protocol(protocol)
	if err != nil {
		p.Logger.Error("cannot report a refusal", "protocol", protocol, "error", err)
		return false
	}
	sess.Refusal = refusal
	return p.pipe(tc, target, sess, release)
}

// outOfBand passes a request outside any session, such as a cancel
// request, to the plugin whose route tag the key it carries names (to
// every plugin of its protocol when it carries none); only the one that
// issued the key acts on it. It gets no answer.
func (p *Proxy) outOfBand(conn net.Conn, protocol string, msg, tag []byte) {
	sess := newSession(conn, nil)
	sess.Prefix = bytes.Clone(msg)
	sess.Protocol = protocol
	targets := p.Routes.OutOfBandTargets(protocol, tag)
	if len(targets) == 0 {
		p.Logger.Debug("no plugin holds the session an out-of-band request names", "protocol", protocol, "client", conn.RemoteAddr().String())
	}
	for _, t := range targets {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := t.Open(ctx, sess)
		cancel()
		if err != nil {
			p.Logger.Debug("cannot pass an out-of-band request on", "protocol", protocol, "error", err)
			continue
		}
		_ = c.Close()
	}
}

// handRaw hands a plaintext connection to its protocol's plugin, with
// the bytes already read as the prefix and a refusal to word.
func (p *Proxy) handRaw(conn net.Conn, protocol string, prefix []byte, release func(), refusal *sdk.Refusal) bool {
	target, err := p.Routes.Protocol(protocol)
	if err != nil {
		p.Logger.Error("cannot hand a plaintext connection to its protocol plugin", "protocol", protocol, "error", err)
		return false
	}
	sess := newSession(conn, nil)
	sess.Prefix = bytes.Clone(prefix)
	sess.Refusal = refusal
	return p.pipe(conn, target, sess, release)
}

// pipe connects the client stream to its target and starts a relay
// between them; it reports whether it did, and the relay then owns and
// closes both. The session is handed over, and leaves the caps on
// unauthenticated connections, once its target took it.
func (p *Proxy) pipe(client net.Conn, target Target, sess *Session, release func()) bool {
	peer, err := p.open(target, sess)
	if err != nil {
		return false
	}
	p.start(client, peer, release)
	return true
}

// open hands a session to its target, within 10 s.
func (p *Proxy) open(target Target, sess *Session) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peer, err := target.Open(ctx, sess)
	if err != nil {
		p.Logger.Error("cannot hand the session on", "session", sess.ID, "error", err)
	}
	return peer, err
}

// start relays a session between the client and its target's
// connection: the relay owns and closes both from then on.
func (p *Proxy) start(client, peer net.Conn, release func()) {
	_ = client.SetDeadline(time.Time{})
	release()
	go relay(client, peer)
}

// relay copies between a session's two connections until both
// directions end, then closes them. It runs on a goroutine of its own,
// started once the session's setup is done: the goroutine that ran the
// TLS handshake and the admission grew its stack for them, and an idle
// session would otherwise hold that stack for its whole life.
func relay(client, peer net.Conn) {
	defer func() { _ = client.Close(); _ = peer.Close() }()
	sdk.Relay(client, peer)
}

// serveKeywayTLS completes TLS for keyway's own protocols and dispatches
// by ALPN: the API, an agent's tunnel or data connection, or a
// keyway-db session. It reports whether the
// connection was handed over to a server that now owns it. The API's
// server holds a connection to its own deadlines from then on (see
// core/server's API options); a tunnel's handler checks the agent's
// certificate at once.
func (p *Proxy) serveKeywayTLS(raw net.Conn, release func()) bool {
	tc := tls.Server(raw, p.keywayConfig())
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
			handOver(raw, release, tc, p.API)
			return true
		}
	case tunnel.ALPNTunnel:
		if p.Tunnel != nil {
			handOver(raw, release, tc, p.Tunnel)
			return false
		}
	case tunnel.ALPNData:
		if p.Data != nil {
			handOver(raw, release, tc, p.Data)
			return true
		}
	case tunnel.ALPNDB:
		return p.serveDB(tc, release)
	}
	p.Logger.Debug("closing TLS connection without a known protocol", "client", raw.RemoteAddr().String(), "alpn", tc.ConnectionState().NegotiatedProtocol)
	return false
}

// handOver clears the handshake's deadline, takes the connection out of
// the caps on unauthenticated ones and gives it to serve.
func handOver(raw net.Conn, release func(), tc *tls.Conn, serve func(*tls.Conn)) {
	_ = raw.SetDeadline(time.Time{})
	release()
	serve(tc)
}

// serveDB serves a keyway-db session, of any protocol: the route is in
// the client's certificate, the proxy answers with its admission, and
// the session's bytes then flow to the database's plugin as they would
// after the protocol's own TLS. It reports whether a relay took the
// connection (see pipe).
func (p *Proxy) serveDB(tc *tls.Conn, release func()) bool {
	sess := newSession(tc, peerChain(tc))
	ctx, cancel := context.WithTimeout(context.Background(), p.HandshakeTimeout)
	defer cancel()
	target, refusal := p.Admit(ctx, sess)
	if refusal != nil {
		_ = tunnel.WriteAdmission(tc, refusal.Message)
		return false
	}
	peer, err := target.Open(ctx, sess)
	if err != nil {
		p.Logger.Error("cannot hand the session on", "session", sess.ID, "error", err)
		_ = tunnel.WriteAdmission(tc, "keyway: database "+sess.Database.Name+" is unavailable: "+err.Error())
		return false
	}
	if err := tunnel.WriteAdmission(tc, ""); err != nil {
		_ = peer.Close()
		return false
	}
	_ = tc.SetDeadline(time.Time{})
	release()
	go relay(tc, peer)
	return true
}

// ServeOwnPort accepts the connections of a protocol whose clients reach
// the proxy on a port of its own (a protocol whose server speaks first)
// until ln is closed, under the same caps as the shared port, and hands
// each to the protocol's plugin before TLS: the plugin runs its exchange,
// completes TLS and asks the host to admit the session.
func (p *Proxy) ServeOwnPort(ln net.Listener, protocol string) error {
	loop := listener.AcceptLoop{Name: "proxy-" + protocol, Logger: p.Logger, Metrics: p.Metrics}
	p.mu.Lock()
	p.ownLoops = append(p.ownLoops, &loop)
	p.mu.Unlock()
	return loop.Serve(ln, p.admitted(func(conn net.Conn, release func()) { p.handOwnPort(conn, protocol, release) }))
}

// handOwnPort hands a connection of a protocol's own port to its plugin.
func (p *Proxy) handOwnPort(conn net.Conn, protocol string, release func()) {
	defer func() {
		_ = conn.Close()
		release()
	}()
	if took, err := p.handBeforeTLS(conn, protocol); !took && err == nil {
		p.Logger.Error("the protocol's plugin does not complete clients' TLS itself, which a port of its own needs; build it with a current keyway SDK", "protocol", protocol)
	}
}

// handBeforeTLS offers a connection, before TLS, to the plugin of
// protocol, which completes TLS itself when it takes it. The plugin holds
// the client to the proxy's handshake deadline. A failure is logged.
func (p *Proxy) handBeforeTLS(conn net.Conn, protocol string) (took bool, err error) {
	if p.HandClientTLS == nil {
		return false, nil
	}
	sess := newSession(conn, nil)
	ctx, cancel := context.WithTimeout(context.Background(), p.HandshakeTimeout)
	defer cancel()
	took, err = p.HandClientTLS(ctx, conn, sess, protocol, time.Now().Add(p.HandshakeTimeout))
	if err != nil {
		p.Logger.Error("cannot hand a client connection to its protocol plugin", "protocol", protocol, "session", sess.ID, "error", err)
	}
	return took, err
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
