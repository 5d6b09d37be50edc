package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/keyway-dev/keyway/examples/mysql/wire"
	"github.com/keyway-dev/keyway/sdk"
)

// upstream is a logged-in connection to the database.
type upstream struct {
	conn net.Conn
	// greeting is what the server said first: its version and
	// connection id.
	greeting *wire.Greeting
}

// loginUpstream is how the plugin logs in to the database for a client:
// as the database user, with the client's capabilities, character set,
// database and connection attributes.
type loginUpstream struct {
	DBUser, DBName string
	Capabilities   uint32
	Charset        byte
	Attributes     [][2]string
}

// layoutCapabilities change the form of the server's answers after the
// login: the client and the server must agree on each of them, since the
// plugin passes answers through unchanged. Others only change the login
// packet, which the plugin writes itself.
const layoutCapabilities = wire.ClientDeprecateEOF | wire.ClientSessionTrack | wire.ClientMultiResults |
	wire.ClientPSMultiResults | wire.ClientMultiStatements | wire.ClientFoundRows | wire.ClientTransactions |
	wire.ClientLongFlag | wire.ClientProtocol41

// errUpstreamRefused wraps the database's own refusal, which the client
// is shown as the server sent it.
type errUpstreamRefused struct{ err *wire.Error }

func (e *errUpstreamRefused) Error() string {
	return "the database refused the login: " + e.err.Message
}

// dialUpstream connects to the database, asks for TLS, completes mutual
// TLS with the db-client certificate (whose subject is CN=the database
// user) and logs in without a password: MariaDB checks the subject
// (REQUIRE SUBJECT). It returns *errUpstreamRefused when the server says
// no. trust keeps the databases' parsed CA pools between sessions.
func dialUpstream(ctx context.Context, trust *sdk.TrustCache, db *sdk.Database, cert tls.Certificate, l loginUpstream, timeout time.Duration) (*upstream, error) {
	cfg, err := trust.ClientConfig(db.Trust, db.URI, cert)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", db.URI)
	if err != nil {
		return nil, err
	}
	up, err := loginOver(ctx, raw, cfg, l)
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	_ = up.conn.SetDeadline(time.Time{})
	return up, nil
}

// loginOver runs the connection phase on raw.
func loginOver(ctx context.Context, raw net.Conn, cfg *tls.Config, l loginUpstream) (*upstream, error) {
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}
	r := wire.NewReader(raw)
	r.Limit = 1 << 16
	p, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("reading the server's greeting: %w", err)
	}
	g, err := wire.ParseGreeting(p.Payload)
	if err != nil {
		var refused *wire.Error
		if errors.As(err, &refused) {
			return nil, &errUpstreamRefused{err: refused}
		}
		return nil, err
	}
	if g.Capabilities&wire.ClientSSL == 0 {
		return nil, errors.New("the server does not offer TLS; configure ssl_cert, ssl_key and ssl_ca in MariaDB")
	}
	if missing := l.Capabilities &^ g.Capabilities & layoutCapabilities; missing != 0 {
		return nil, fmt.Errorf("the server lacks capabilities the client uses (flags %#x): it answers in a form the client does not expect", missing)
	}
	caps := l.Capabilities&g.Capabilities | wire.ClientSSL | wire.ClientProtocol41 | wire.ClientSecureConnection | wire.ClientPluginAuth
	if l.DBName != "" {
		caps |= wire.ClientConnectWithDB
	} else {
		caps &^= wire.ClientConnectWithDB
	}
	login := wire.Login{Capabilities: caps, MaxPacketSize: 1 << 24, Charset: l.Charset, SSLRequest: true}
	seq, err := wire.WritePacket(raw, p.Seq+1, login.Append(nil))
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	login.SSLRequest = false
	login.User, login.Database, login.AuthPlugin = l.DBUser, l.DBName, g.AuthPlugin
	login.Attributes = l.Attributes
	if _, err := wire.WritePacket(tc, seq, login.Append(nil)); err != nil {
		return nil, err
	}
	r = wire.NewReader(tc)
	r.Limit = 1 << 16
	// The server may ask to switch authentication methods: the answer
	// is an empty one, since the user has no password.
	for range 3 {
		p, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("reading the login's answer: %w", err)
		}
		switch {
		case wire.IsOK(p.Payload):
			return &upstream{conn: tc, greeting: g}, nil
		case wire.IsError(p.Payload):
			return nil, &errUpstreamRefused{err: wire.ParseError(p.Payload, caps)}
		case len(p.Payload) > 0 && p.Payload[0] == 0xfe:
			if _, err := wire.WritePacket(tc, p.Seq+1, nil); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("the server asked for more authentication data (0x%02x); keyway logs in by certificate only: create the user with REQUIRE SUBJECT '/CN=%s' and no password", p.Payload[0], l.DBUser)
		}
	}
	return nil, errors.New("the server asked to switch authentication methods too often")
}
