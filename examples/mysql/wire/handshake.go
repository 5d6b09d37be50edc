package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Capability flags of the connection phase.
const (
	ClientLongPassword     uint32 = 1 << 0
	ClientFoundRows        uint32 = 1 << 1
	ClientLongFlag         uint32 = 1 << 2
	ClientConnectWithDB    uint32 = 1 << 3
	ClientNoSchema         uint32 = 1 << 4
	ClientCompress         uint32 = 1 << 5
	ClientODBC             uint32 = 1 << 6
	ClientLocalFiles       uint32 = 1 << 7
	ClientIgnoreSpace      uint32 = 1 << 8
	ClientProtocol41       uint32 = 1 << 9
	ClientInteractive      uint32 = 1 << 10
	ClientSSL              uint32 = 1 << 11
	ClientIgnoreSIGPIPE    uint32 = 1 << 12
	ClientTransactions     uint32 = 1 << 13
	ClientSecureConnection uint32 = 1 << 15
	ClientMultiStatements  uint32 = 1 << 16
	ClientMultiResults     uint32 = 1 << 17
	ClientPSMultiResults   uint32 = 1 << 18
	ClientPluginAuth       uint32 = 1 << 19
	ClientConnectAttrs     uint32 = 1 << 20
	ClientPluginAuthLenenc uint32 = 1 << 21
	ClientCanHandleExpired uint32 = 1 << 22
	ClientSessionTrack     uint32 = 1 << 23
	ClientDeprecateEOF     uint32 = 1 << 24
)

// Supported are the capabilities a session through keyway may use: the
// plugin reads every packet of these, and no others. Compression would
// hide statements from the audit; MariaDB's extended capabilities
// (progress reports, bulk operations, metadata caching) change packets'
// layout, so the plugin never offers them.
const Supported = ClientLongPassword | ClientFoundRows | ClientLongFlag | ClientConnectWithDB |
	ClientNoSchema | ClientODBC | ClientIgnoreSpace | ClientProtocol41 | ClientInteractive |
	ClientSSL | ClientIgnoreSIGPIPE | ClientTransactions | ClientSecureConnection |
	ClientMultiStatements | ClientMultiResults | ClientPSMultiResults | ClientPluginAuth |
	ClientConnectAttrs | ClientPluginAuthLenenc | ClientCanHandleExpired | ClientSessionTrack |
	ClientDeprecateEOF

// Greeting is the server's first packet (protocol version 10).
type Greeting struct {
	ServerVersion string
	ConnectionID  uint32
	// AuthData is the scramble the server's auth plugin uses (20 bytes
	// for mysql_native_password).
	AuthData     []byte
	Capabilities uint32
	Charset      byte
	Status       uint16
	AuthPlugin   string
}

// ParseGreeting reads a server's greeting. An ERR packet in its place
// (the server refusing the connection) is returned as *Error.
func ParseGreeting(p []byte) (*Greeting, error) {
	if len(p) > 0 && p[0] == 0xff {
		return nil, ParseError(p, ClientProtocol41)
	}
	d := decoder{b: p}
	if v := d.uint8(); d.err == nil && v != 10 {
		return nil, fmt.Errorf("server greeting of protocol version %d, not 10", v)
	}
	g := &Greeting{ServerVersion: d.nulString(), ConnectionID: d.uint32()}
	g.AuthData = append(g.AuthData, d.bytes(8)...)
	d.uint8() // filler
	g.Capabilities = uint32(d.uint16())
	if d.err == nil && len(d.b) == 0 {
		return g, nil // a pre-4.1 greeting ends here
	}
	g.Charset = d.uint8()
	g.Status = d.uint16()
	g.Capabilities |= uint32(d.uint16()) << 16
	authLen := int(d.uint8())
	d.bytes(10) // reserved, and MariaDB's extended capabilities
	if g.Capabilities&ClientSecureConnection != 0 {
		n := max(13, authLen-8)
		part := d.bytes(n)
		// The scramble's second part ends with a NUL that is not part of
		// it.
		if len(part) > 0 && part[len(part)-1] == 0 {
			part = part[:len(part)-1]
		}
		g.AuthData = append(g.AuthData, part...)
	}
	if g.Capabilities&ClientPluginAuth != 0 && d.err == nil {
		// Some servers omit the final NUL.
		rest := d.rest()
		if i := bytes.IndexByte(rest, 0); i >= 0 {
			rest = rest[:i]
		}
		g.AuthPlugin = string(rest)
	}
	if d.err != nil {
		return nil, fmt.Errorf("reading the server greeting: %w", d.err)
	}
	return g, nil
}

// Append encodes the greeting.
func (g *Greeting) Append(b []byte) []byte {
	b = append(b, 10)
	b = append(append(b, g.ServerVersion...), 0)
	b = binary.LittleEndian.AppendUint32(b, g.ConnectionID)
	auth := g.AuthData
	var first [8]byte
	copy(first[:], auth)
	b = append(append(b, first[:]...), 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(g.Capabilities))
	b = append(b, g.Charset)
	b = binary.LittleEndian.AppendUint16(b, g.Status)
	b = binary.LittleEndian.AppendUint16(b, uint16(g.Capabilities>>16))
	authLen := 0
	if g.Capabilities&ClientPluginAuth != 0 {
		authLen = len(auth) + 1
	}
	b = append(b, byte(authLen))
	b = append(b, make([]byte, 10)...)
	if g.Capabilities&ClientSecureConnection != 0 {
		second := []byte{}
		if len(auth) > 8 {
			second = auth[8:]
		}
		part := make([]byte, max(13, len(second)+1))
		copy(part, second)
		b = append(b, part...)
	}
	if g.Capabilities&ClientPluginAuth != 0 {
		b = append(append(b, g.AuthPlugin...), 0)
	}
	return b
}

// sslRequestLength is the size of an SSLRequest: the fixed start of a
// handshake response, without a user name.
const sslRequestLength = 32

// Login is a client's handshake response, or its SSLRequest (the same
// fixed fields with nothing after them).
type Login struct {
	Capabilities  uint32
	MaxPacketSize uint32
	Charset       byte
	User          string
	AuthResponse  []byte
	Database      string
	AuthPlugin    string
	// Attributes are the connection attributes, in the order sent.
	Attributes [][2]string
	// SSLRequest is set when the packet only asks for TLS.
	SSLRequest bool
}

// ErrOldProtocol refuses clients older than protocol 4.1.
var ErrOldProtocol = errors.New("the client does not speak protocol 4.1")

// ParseLogin reads a client's SSLRequest or handshake response.
func ParseLogin(p []byte) (*Login, error) {
	d := decoder{b: p}
	l := &Login{Capabilities: d.uint32(), MaxPacketSize: d.uint32(), Charset: d.uint8()}
	d.bytes(23)
	if d.err != nil {
		return nil, fmt.Errorf("reading the client's handshake: %w", d.err)
	}
	if l.Capabilities&ClientProtocol41 == 0 {
		return nil, ErrOldProtocol
	}
	if len(p) == sslRequestLength {
		l.SSLRequest = l.Capabilities&ClientSSL != 0
		if !l.SSLRequest {
			return nil, errors.New("the client's handshake names no user")
		}
		return l, nil
	}
	l.User = d.nulString()
	switch {
	case l.Capabilities&ClientPluginAuthLenenc != 0:
		l.AuthResponse = d.lenencBytes()
	case l.Capabilities&ClientSecureConnection != 0:
		l.AuthResponse = d.bytes(int(d.uint8()))
	default:
		l.AuthResponse = []byte(d.nulString())
	}
	if l.Capabilities&ClientConnectWithDB != 0 && len(d.b) > 0 {
		l.Database = d.nulString()
	}
	if l.Capabilities&ClientPluginAuth != 0 && len(d.b) > 0 {
		l.AuthPlugin = d.nulString()
	}
	if l.Capabilities&ClientConnectAttrs != 0 && len(d.b) > 0 {
		n, _ := d.lenencInt()
		if n > uint64(len(d.b)) {
			d.fail()
		}
		attrs := decoder{b: d.bytes(int(n))}
		for len(attrs.b) > 0 && attrs.err == nil {
			k, v := attrs.lenencBytes(), attrs.lenencBytes()
			l.Attributes = append(l.Attributes, [2]string{string(k), string(v)})
		}
		if attrs.err != nil {
			d.fail()
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("reading the client's handshake: %w", d.err)
	}
	l.AuthResponse = append([]byte(nil), l.AuthResponse...)
	return l, nil
}

// Append encodes the login as a handshake response, or as an SSLRequest
// when SSLRequest is set.
func (l *Login) Append(b []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, l.Capabilities)
	b = binary.LittleEndian.AppendUint32(b, l.MaxPacketSize)
	b = append(b, l.Charset)
	b = append(b, make([]byte, 23)...)
	if l.SSLRequest {
		return b
	}
	b = append(append(b, l.User...), 0)
	switch {
	case l.Capabilities&ClientPluginAuthLenenc != 0:
		b = appendLenencBytes(b, l.AuthResponse)
	case l.Capabilities&ClientSecureConnection != 0:
		b = append(append(b, byte(len(l.AuthResponse))), l.AuthResponse...)
	default:
		b = append(append(b, l.AuthResponse...), 0)
	}
	if l.Capabilities&ClientConnectWithDB != 0 {
		b = append(append(b, l.Database...), 0)
	}
	if l.Capabilities&ClientPluginAuth != 0 {
		b = append(append(b, l.AuthPlugin...), 0)
	}
	if l.Capabilities&ClientConnectAttrs != 0 {
		var attrs []byte
		for _, kv := range l.Attributes {
			attrs = appendLenencBytes(attrs, []byte(kv[0]))
			attrs = appendLenencBytes(attrs, []byte(kv[1]))
		}
		b = appendLenencBytes(b, attrs)
	}
	return b
}
