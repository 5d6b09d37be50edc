package sdk

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// The serving certificate is fetched again servingRecheck after it was
// fetched, so that a certificate the host renewed early (after a rotation
// of its authority) is taken up soon, and servingRefresh before it
// expires in any case.
const (
	servingRecheck = 30 * time.Second
	servingRefresh = time.Hour
)

// serveClientTLS completes a client's TLS handshake in the plugin, asks
// the host where the session goes, and serves it, relays it, or refuses
// it. The host hands raw connections over so that a session's bytes are
// decrypted, inspected and encrypted again in this one process.
func (s *protocolServer) serveClientTLS(raw net.Conn, meta *pluginv1.Session) {
	host := s.host()
	if host == nil {
		s.logger.Error("a client connection arrived before the plugin was configured")
		_ = raw.Close()
		return
	}
	deadline := time.Unix(0, meta.GetHandshakeDeadlineUnixNano())
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	_ = raw.SetDeadline(deadline)
	var preface []byte
	if pre, ok := s.impl.(PreTLS); ok {
		var err error
		if preface, err = pre.BeforeTLS(ctx, raw); err != nil {
			s.logger.Debug("the exchange before TLS failed", "client", meta.GetClientAddr(), "error", err)
			_ = raw.Close()
			return
		}
	}
	tc := tls.Server(raw, &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Any certificate is taken by the handshake and checked by the
		// host, so that a bad one is explained in the client's protocol
		// rather than by a bare TLS alert.
		ClientAuth: tls.RequestClientCert,
		// Database clients do not resume sessions: no ticket is made,
		// which would cost encrypting the client's certificates and a
		// record on every connection.
		SessionTicketsDisabled: true,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.certs.get(ctx, host)
		},
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		s.logger.Debug("TLS handshake failed", "client", meta.GetClientAddr(), "error", err)
		_ = raw.Close()
		return
	}
	chain := peerChain(tc)
	relay := s.relays.expect(meta.GetId())
	defer s.relays.forget(meta.GetId())
	resp, err := host.c.Admit(ctx, &pluginv1.AdmitRequest{
		SessionId: meta.GetId(), ClientCertificates: chain, ClientAddr: meta.GetClientAddr(),
		LocalAddr: meta.GetLocalAddr(), AcceptedUnixNano: meta.GetAcceptedUnixNano(),
		Preface: preface,
	})
	if err == nil && resp.GetRelay() {
		s.relayElsewhere(ctx, tc, relay)
		return
	}
	sess := s.newSession(tc, meta)
	sess.ClientCertificates, sess.Preface = chain, preface
	switch {
	case err != nil:
		sess.Refusal = &Refusal{Kind: RefusalUnavailable, Message: "keyway cannot admit the session now: " + status.Convert(err).Message()}
	case resp.GetRefusal() != nil:
		sess.Refusal = &Refusal{Kind: resp.GetRefusal().GetKind(), Message: resp.GetRefusal().GetMessage()}
	default:
		sess.Database = databaseFromProto(resp.GetDatabase())
		sess.KeyTag = resp.GetKeyTag()
	}
	// The session runs on a goroutine of its own: this one's stack, grown
	// by the handshake, ends here instead of staying with the session for
	// as long as it is open.
	go s.run(sess)
}

// peerChain is the certificate chain the peer presented (DER, leaf
// first), as Host.Admit takes it.
func peerChain(tc *tls.Conn) [][]byte {
	var chain [][]byte
	for _, c := range tc.ConnectionState().PeerCertificates {
		chain = append(chain, c.Raw)
	}
	return chain
}

// relayElsewhere passes a session the host routes to another plugin or an
// agent: the decrypted stream goes unchanged to the connection the host
// sent for it.
func (s *protocolServer) relayElsewhere(ctx context.Context, client *tls.Conn, relay <-chan net.Conn) {
	defer func() { _ = client.Close() }()
	var up net.Conn
	select {
	case up = <-relay:
	case <-ctx.Done():
		s.logger.Error("the host admitted a session elsewhere but sent no connection for it")
		return
	}
	defer func() { _ = up.Close() }()
	_ = client.SetDeadline(time.Time{})
	Relay(client, up)
}

// servingCerts caches the certificate presented to clients.
type servingCerts struct {
	cache hostCache[*tls.Certificate]
}

func (c *servingCerts) get(ctx context.Context, host *hostClient) (*tls.Certificate, error) {
	return c.cache.get(servingRefresh, func() (*tls.Certificate, time.Time, error) {
		resp, err := host.c.ServingCertificate(ctx, &pluginv1.ServingCertificateRequest{})
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("getting the serving certificate from the host: %w", err)
		}
		cert, err := tls.X509KeyPair(resp.GetCertificatePem(), resp.GetKeyPem())
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("the host's serving certificate: %w", err)
		}
		return &cert, time.Unix(resp.GetNotAfterUnix(), 0), nil
	})
}

// relays are the sessions waiting for the connection the host sends when
// it admits them elsewhere.
type relays struct {
	mu      sync.Mutex
	waiting map[string]chan net.Conn
}

func (r *relays) expect(id string) <-chan net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waiting == nil {
		r.waiting = map[string]chan net.Conn{}
	}
	ch := make(chan net.Conn, 1)
	r.waiting[id] = ch
	return ch
}

func (r *relays) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.waiting[id]; ok {
		delete(r.waiting, id)
		select {
		case c := <-ch:
			_ = c.Close()
		default:
		}
	}
}

// deliver passes conn to the session waiting for it, or closes it.
func (r *relays) deliver(id string, conn net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch, ok := r.waiting[id]
	if !ok {
		_ = conn.Close()
		return
	}
	select {
	case ch <- conn:
	default:
		_ = conn.Close()
	}
}
