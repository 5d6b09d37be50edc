package postgres

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
)

// connect dials the database, asks it for TLS and completes the handshake
// with cert, verifying the server per the database's trust settings
// (their pool from trust, when given). With groups, it offers only the
// key-exchange group the database chose before (groupMemory) and, if the
// database refuses that handshake, connects once more offering every
// group.
func connect(ctx context.Context, trust *sdk.TrustCache, groups *groupMemory, db *sdk.Database, cert tls.Certificate, timeout time.Duration) (*tls.Conn, error) {
	cfg, err := trust.ClientConfig(db.Trust, db.URI, cert)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if only := groups.get(db.URI); only != 0 {
		first := cfg.Clone()
		first.CurvePreferences = []tls.CurveID{only}
		tc, err := dialTLS(ctx, db.URI, first)
		if err == nil || !refusedHandshake(err) {
			return tc, err
		}
		groups.forget(db.URI)
	}
	tc, err := dialTLS(ctx, db.URI, cfg)
	if err == nil {
		groups.learn(db.URI, tc.ConnectionState().CurveID)
	}
	return tc, err
}

// refusedHandshake reports whether err is the database's TLS alert:
// crypto/tls reports a peer's alert as a net.OpError of "remote error".
func refusedHandshake(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// dialTLS opens a connection to addr, asks for TLS and completes the
// handshake with cfg.
func dialTLS(ctx context.Context, addr string, cfg *tls.Config) (*tls.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}
	var req [8]byte
	binary.BigEndian.PutUint32(req[0:], 8)
	binary.BigEndian.PutUint32(req[4:], codeSSLRequest)
	if _, err := raw.Write(req[:]); err != nil {
		_ = raw.Close()
		return nil, err
	}
	var answer [1]byte
	if _, err := io.ReadFull(raw, answer[:]); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("asking for TLS: %w", err)
	}
	if answer[0] != 'S' {
		_ = raw.Close()
		return nil, fmt.Errorf("the server does not accept TLS (answered %q); set ssl = on in postgresql.conf", answer[0])
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// login sends the StartupMessage and passes the server's answers to the
// client until the session is ready: AuthenticationOk, parameters, then
// ReadyForQuery. The backend's BackendKeyData is replaced by the key that
// swap returns, so the client's cancel requests come to keyway. An error
// from the server is forwarded verbatim; a request for a password is
// refused with advice, since keyway logs in with certificates.
func login(upstream net.Conn, client io.Writer, params map[string]string, database, dbUser string, swap func(cancelKey) cancelKey) (*cancelKey, error) {
	msg, err := startupMessage(params)
	if err != nil {
		return nil, err
	}
	lost := func(err error) error {
		fatal(client, stateConnectionFailure, fmt.Sprintf("keyway lost database %s while logging in: %v", database, err), "")
		return err
	}
	if _, err := upstream.Write(msg); err != nil {
		return nil, lost(err)
	}
	var key *cancelKey
	authenticated := false
	for {
		typ, body, err := readMessage(upstream)
		if err != nil {
			return key, lost(err)
		}
		switch {
		case typ == 'R' && !authenticated:
			var ok pgproto3.AuthenticationOk
			if ok.Decode(body) != nil {
				fatal(client, stateInvalidAuthorization,
					fmt.Sprintf("database %s asks for a password for user %q, but keyway logs in with certificates", database, dbUser),
					"allow certificate authentication in pg_hba.conf, e.g. hostssl all all 0.0.0.0/0 cert")
				return key, fmt.Errorf("database wants password authentication")
			}
			authenticated = true
		case typ == 'K' && len(body) == 8:
			k := swap(cancelKey{pid: binary.BigEndian.Uint32(body[:4]), secret: binary.BigEndian.Uint32(body[4:])})
			key = &k
			body = make([]byte, 8)
			binary.BigEndian.PutUint32(body[:4], k.pid)
			binary.BigEndian.PutUint32(body[4:], k.secret)
		case typ == 'E':
			_, _ = client.Write(encodeMessage(typ, body))
			return key, fmt.Errorf("database refused the login")
		case typ == 'S' || typ == 'N':
		case typ == 'Z':
			_, err := client.Write(encodeMessage(typ, body))
			return key, err
		default:
			fatal(client, stateProtocolViolation, fmt.Sprintf("database %s answered the login with message %q", database, typ), "")
			return key, fmt.Errorf("unexpected message %q", typ)
		}
		if _, err := client.Write(encodeMessage(typ, body)); err != nil {
			return key, err
		}
	}
}
