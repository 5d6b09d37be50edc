package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/keyway-dev/keyway/examples/mysql/wire"
)

// plaintextRefusal is what a client that logs in without TLS is told.
const plaintextRefusal = "keyway accepts MySQL connections only over TLS: connect with --ssl-cert, --ssl-key and --ssl-ca from keyway db login, or through keyway proxy db"

// maxLoginPacket bounds a client's SSLRequest and handshake response.
const maxLoginPacket = 1 << 16

// prefaceVersion starts an encoded preface, so that a plugin that
// receives one from another version of itself can tell.
const prefaceVersion = 1

// preface is what the exchange before TLS settled: the connection id the
// client was given, its capabilities and character set, and the sequence
// number its handshake response must carry.
type preface struct {
	connID  uint32
	caps    uint32
	charset byte
	seq     byte
}

func (p preface) encode() []byte {
	b := []byte{prefaceVersion}
	b = binary.BigEndian.AppendUint32(b, p.connID)
	b = binary.BigEndian.AppendUint32(b, p.caps)
	return append(b, p.charset, p.seq)
}

func decodePreface(b []byte) (preface, error) {
	if len(b) != 11 || b[0] != prefaceVersion {
		return preface{}, fmt.Errorf("a session preface of %d bytes from another version of the plugin", len(b))
	}
	return preface{connID: binary.BigEndian.Uint32(b[1:]), caps: binary.BigEndian.Uint32(b[5:]), charset: b[9], seq: b[10]}, nil
}

// BeforeTLS greets a client on the proxy's MySQL port and reads its
// SSLRequest: MySQL clients ask for TLS inside the protocol, after the
// server's greeting. A client that logs in without TLS is refused.
func (p *Plugin) BeforeTLS(ctx context.Context, conn net.Conn) ([]byte, error) {
	_, cfg := p.current()
	connID := p.conns.newID()
	if _, err := wire.WritePacket(conn, 0, p.greeting(cfg.serverVersion, connID, true)); err != nil {
		return nil, err
	}
	r := wire.NewReader(conn)
	r.Limit = maxLoginPacket
	pkt, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("reading the client's SSLRequest: %w", err)
	}
	l, err := wire.ParseLogin(pkt.Payload)
	if err != nil {
		writeError(conn, pkt.Seq+1, &wire.Error{Code: wire.ErHandshake, SQLState: "08S01", Message: "keyway: " + err.Error()})
		return nil, err
	}
	if !l.SSLRequest {
		writeError(conn, pkt.Seq+1, &wire.Error{Code: wire.ErAccessDenied, SQLState: "28000",
			Message: plaintextRefusal})
		return nil, errors.New("the client logged in without TLS")
	}
	return preface{connID: connID, caps: l.Capabilities & offered(true), charset: l.Charset, seq: pkt.Seq + 1}.encode(), nil
}

// offered are the capabilities keyway's greeting announces: TLS only
// where the client still has to ask for it.
func offered(tls bool) uint32 {
	if tls {
		return wire.Supported
	}
	return wire.Supported &^ wire.ClientSSL
}

// greeting is keyway's greeting to a client. The scramble is random;
// keyway ignores the client's answer to it, since the client's
// certificate is its credential.
func (p *Plugin) greeting(version string, connID uint32, tls bool) []byte {
	scramble := make([]byte, 20)
	_, _ = rand.Read(scramble)
	for i, c := range scramble {
		// The scramble is sent NUL-terminated: keep it printable.
		scramble[i] = 0x21 + c%0x5e
	}
	g := wire.Greeting{
		ServerVersion: version, ConnectionID: connID, AuthData: scramble,
		Capabilities: offered(tls), Charset: 45, Status: 2, AuthPlugin: "mysql_native_password",
	}
	return g.Append(nil)
}

// clientLogin is a client's handshake response and where the session's
// packet numbering stands after it.
type clientLogin struct {
	login  *wire.Login
	connID uint32
	// seq is the sequence number of keyway's answer to the login.
	seq byte
}

// readLogin reads the client's handshake response. A session whose
// client already asked for TLS (its Preface) continues from there;
// otherwise keyway's own TLS carried it here and keyway greets the client
// now, without offering TLS again.
func (p *Plugin) readLogin(conn net.Conn, pre []byte, version string, timeout time.Duration) (*clientLogin, error) {
	_ = conn.SetDeadline(time.Now().Add(timeout))
	defer func() { _ = conn.SetDeadline(time.Time{}) }()
	var st preface
	if pre != nil {
		var err error
		if st, err = decodePreface(pre); err != nil {
			return nil, err
		}
	} else {
		st = preface{connID: p.conns.newID(), caps: offered(false), seq: 1}
		if _, err := wire.WritePacket(conn, 0, p.greeting(version, st.connID, false)); err != nil {
			return nil, err
		}
	}
	r := wire.NewReader(conn)
	r.Limit = maxLoginPacket
	pkt, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("reading the client's login: %w", err)
	}
	l, err := wire.ParseLogin(pkt.Payload)
	if err != nil {
		writeError(conn, pkt.Seq+1, &wire.Error{Code: wire.ErHandshake, SQLState: "08S01", Message: "keyway: " + err.Error()})
		return nil, err
	}
	if l.SSLRequest {
		writeError(conn, pkt.Seq+1, &wire.Error{Code: wire.ErHandshake, SQLState: "08S01", Message: "keyway: TLS is already in place on this connection"})
		return nil, errors.New("the client asked for TLS twice")
	}
	if pre == nil {
		st.caps = l.Capabilities & offered(false)
	} else {
		st.caps &= l.Capabilities
	}
	l.Capabilities = st.caps
	return &clientLogin{login: l, connID: st.connID, seq: pkt.Seq + 1}, nil
}

// writeError sends an ERR packet, as well as the connection allows.
func writeError(conn net.Conn, seq byte, e *wire.Error) {
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = wire.WritePacket(conn, seq, e.Append(nil))
}
