package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgproto3/v2"
)

// Limits on what a peer may send before the session is established.
const (
	// maxStartupLength bounds a startup packet, as PostgreSQL does.
	maxStartupLength = 10000
	// maxHandshakeMessage bounds a message from the server during login.
	maxHandshakeMessage = 1 << 20
)

// Startup packet codes (the first four bytes after the length).
const (
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	codeCancelRequest = 80877102
)

// errMalformed marks a protocol violation by the peer.
var errMalformed = errors.New("malformed message")

// readStartupPacket reads one length-prefixed startup packet without
// buffering beyond it, so the connection can be relayed byte for byte
// afterwards.
func readStartupPacket(r io.Reader) (code uint32, body []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 8 || n > maxStartupLength {
		return 0, nil, fmt.Errorf("%w: startup packet length %d is outside 8..%d", errMalformed, n, maxStartupLength)
	}
	body = make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint32(body[:4]), body, nil
}

// readMessage reads one typed backend message (type byte, length, body)
// without buffering beyond it.
func readMessage(r io.Reader) (typ byte, body []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[1:]))
	if n < 4 || n > maxHandshakeMessage {
		return 0, nil, fmt.Errorf("%w: message %q length %d is outside 4..%d", errMalformed, hdr[0], n, maxHandshakeMessage)
	}
	body = make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return hdr[0], body, nil
}

// encodeMessage frames a typed message.
func encodeMessage(typ byte, body []byte) []byte {
	out := make([]byte, 5, 5+len(body))
	out[0] = typ
	binary.BigEndian.PutUint32(out[1:], uint32(4+len(body)))
	return append(out, body...)
}

// startupMessage encodes a StartupMessage with parameters.
func startupMessage(params map[string]string) ([]byte, error) {
	return (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: params}).Encode(nil)
}
