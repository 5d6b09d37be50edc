// Package floor is the benchmark's lower bound for a relaying proxy: a
// relay that terminates mutual TLS and opens mutual TLS onward, copying
// bytes and checking nothing. It uses the same TLS stack as keyway
// (crypto/tls), so what keyway costs beyond it is keyway's own work.
//
// One relay in front of PostgreSQL is the floor of keyway's all-in-one
// topology; two chained, the second reached over one TLS connection per
// session, the floor of a proxy with a separate database agent.
package floor

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// PostgreSQL's requests that precede a session's TLS.
const (
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
)

// Side says how a relay's connection speaks before TLS starts.
type Side int

const (
	// Postgres is PostgreSQL's way: an SSLRequest, answered 'S', then
	// the TLS handshake on the same connection.
	Postgres Side = iota
	// TLS starts the handshake at once, as between two relays.
	TLS
)

// Relay accepts sessions on a listener and copies each one's bytes to
// a new connection to Upstream.
type Relay struct {
	// In is how clients reach the relay; Server verifies them and
	// presents the relay's certificate.
	In     Side
	Server *tls.Config
	// Upstream is HOST:PORT of the next hop, Out how it is spoken to and
	// Client the TLS that presents the relay's client certificate and
	// verifies the next hop.
	Upstream string
	Out      Side
	Client   *tls.Config
	// Timeout bounds the preamble and both handshakes of a session.
	Timeout time.Duration
}

// Serve relays every session ln accepts until ln is closed; sessions
// still open then end with the process.
func (r *Relay) Serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accepting: %w", err)
		}
		go r.session(c)
	}
}

// session relays one client until either side closes.
func (r *Relay) session(raw net.Conn) {
	defer func() { _ = raw.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	_ = raw.SetDeadline(time.Now().Add(r.Timeout))
	client, err := r.accept(ctx, raw)
	if err != nil {
		return
	}
	upstream, err := r.dial(ctx)
	if err != nil {
		return
	}
	defer func() { _ = upstream.Close() }()
	_ = raw.SetDeadline(time.Time{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(upstream, client)
		_ = upstream.CloseWrite()
	})
	_, _ = io.Copy(client, upstream)
	_ = client.CloseWrite()
	wg.Wait()
}

// accept answers the client's preamble and completes its TLS handshake.
func (r *Relay) accept(ctx context.Context, raw net.Conn) (*tls.Conn, error) {
	if r.In == Postgres {
		if err := answerSSLRequest(raw); err != nil {
			return nil, err
		}
	}
	c := tls.Server(raw, r.Server)
	if err := c.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("client TLS handshake: %w", err)
	}
	return c, nil
}

// answerSSLRequest reads startup packets until the SSLRequest, which it
// accepts; a GSSENCRequest is declined so the client asks for TLS next.
func answerSSLRequest(c net.Conn) error {
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return fmt.Errorf("reading the client's preamble: %w", err)
		}
		if n := binary.BigEndian.Uint32(hdr[:4]); n != 8 {
			return fmt.Errorf("the client sent a startup packet of %d bytes before asking for TLS", n)
		}
		switch code := binary.BigEndian.Uint32(hdr[4:]); code {
		case codeSSLRequest:
			_, err := c.Write([]byte{'S'})
			return err
		case codeGSSENCRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("the client sent request %d instead of asking for TLS", code)
		}
	}
}

// dial opens the session's connection to the next hop.
func (r *Relay) dial(ctx context.Context) (*tls.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", r.Upstream)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}
	if r.Out == Postgres {
		if err := askSSL(raw); err != nil {
			_ = raw.Close()
			return nil, err
		}
	}
	c := tls.Client(raw, r.Client)
	if err := c.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", r.Upstream, err)
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

// askSSL sends PostgreSQL an SSLRequest and expects it accepted.
func askSSL(c net.Conn) error {
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], codeSSLRequest)
	if _, err := c.Write(req[:]); err != nil {
		return fmt.Errorf("asking for TLS: %w", err)
	}
	var answer [1]byte
	if _, err := io.ReadFull(c, answer[:]); err != nil {
		return fmt.Errorf("asking for TLS: %w", err)
	}
	if answer[0] != 'S' {
		return fmt.Errorf("the server declined TLS (answered %q)", answer[0])
	}
	return nil
}
