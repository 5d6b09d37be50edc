package postgres

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/jackc/pgproto3/v2"
)

// recordingReader serves data and remembers the largest read asked of
// it. io.ReadFull asks for a whole body at once, so this is the size of
// the buffer the reader under test allocated.
type recordingReader struct {
	r       *bytes.Reader
	largest int
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.largest = max(r.largest, len(p))
	return r.r.Read(p)
}

// declared reads the big-endian int32 length at b, as the wire does.
func declared(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }

// FuzzReadStartupPacket: readStartupPacket never panics, never reads or
// allocates past maxStartupLength, refuses a declared length outside
// 8..maxStartupLength after reading only the length, and reads exactly
// one packet, which frames back to the bytes it read.
func FuzzReadStartupPacket(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &recordingReader{r: bytes.NewReader(data)}
		code, body, err := readStartupPacket(r)
		if r.largest > maxStartupLength {
			t.Fatalf("asked for %d bytes at once; the limit is %d", r.largest, maxStartupLength)
		}
		read := len(data) - r.r.Len()
		if err != nil {
			if len(data) >= 4 {
				if n := declared(data); n < 8 || n > maxStartupLength {
					if !errors.Is(err, errMalformed) || read != 4 {
						t.Fatalf("length %d: error %v after %d bytes, want errMalformed after 4", n, err, read)
					}
				}
			}
			return
		}
		if read != 4+len(body) || int(declared(data)) != read {
			t.Fatalf("read %d bytes for a packet declaring %d with a body of %d", read, declared(data), len(body))
		}
		if code != binary.BigEndian.Uint32(body) {
			t.Fatalf("code %d is not the body's first four bytes", code)
		}
		if !bytes.Equal(startupPacket(body), data[:read]) {
			t.Fatal("the packet does not frame back to the bytes read")
		}
	})
}

// FuzzReadMessage: readMessage never panics, never reads or allocates
// past maxHandshakeMessage, refuses a declared length outside
// 4..maxHandshakeMessage after reading only the header, and reads one
// message, which encodeMessage turns back into the bytes read.
func FuzzReadMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &recordingReader{r: bytes.NewReader(data)}
		typ, body, err := readMessage(r)
		if r.largest > maxHandshakeMessage {
			t.Fatalf("asked for %d bytes at once; the limit is %d", r.largest, maxHandshakeMessage)
		}
		read := len(data) - r.r.Len()
		if err != nil {
			if len(data) >= 5 {
				if n := declared(data[1:]); n < 4 || n > maxHandshakeMessage {
					if !errors.Is(err, errMalformed) || read != 5 {
						t.Fatalf("length %d: error %v after %d bytes, want errMalformed after 5", n, err, read)
					}
				}
			}
			return
		}
		if read != 5+len(body) {
			t.Fatalf("read %d bytes for a message with a body of %d", read, len(body))
		}
		if !bytes.Equal(encodeMessage(typ, body), data[:read]) {
			t.Fatal("encodeMessage does not give back the bytes read")
		}
	})
}

// FuzzMessageRoundTrip: any message within the limits that encodeMessage
// frames, readMessage reads back whole, leaving what follows unread; a
// startup packet likewise.
func FuzzMessageRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, typ byte, body, after []byte) {
		if 4+len(body) > maxHandshakeMessage {
			return
		}
		r := bytes.NewReader(append(encodeMessage(typ, body), after...))
		gotTyp, gotBody, err := readMessage(r)
		if err != nil || gotTyp != typ || !bytes.Equal(gotBody, body) || r.Len() != len(after) {
			t.Fatalf("read back %q, %d bytes, %v with %d left; want %q, %d bytes with %d left", gotTyp, len(gotBody), err, r.Len(), typ, len(body), len(after))
		}
		if len(body) < 4 || 4+len(body) > maxStartupLength {
			return
		}
		r = bytes.NewReader(append(startupPacket(body), after...))
		code, gotBody, err := readStartupPacket(r)
		if err != nil || code != binary.BigEndian.Uint32(body) || !bytes.Equal(gotBody, body) || r.Len() != len(after) {
			t.Fatalf("startup packet read back as %d, %d bytes, %v with %d left", code, len(gotBody), err, r.Len())
		}
	})
}

// FuzzStartupMessageRoundTrip: a StartupMessage that startupMessage
// encodes within the limit is read by readStartupPacket and decodes to
// the same parameters; a larger one is refused as malformed.
func FuzzStartupMessageRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, user, database, key, value string) {
		params := map[string]string{"user": user, "database": database, key: value}
		for k, v := range params {
			// A C string cannot hold a NUL, and an empty name ends the
			// list: neither is a parameter a client can send.
			if k == "" || strings.ContainsRune(k, 0) || strings.ContainsRune(v, 0) {
				return
			}
		}
		msg, err := startupMessage(params)
		if err != nil {
			t.Fatal(err)
		}
		code, body, err := readStartupPacket(bytes.NewReader(msg))
		if len(msg) > maxStartupLength {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("a %d-byte startup packet: %v, want errMalformed", len(msg), err)
			}
			return
		}
		if err != nil || code != pgproto3.ProtocolVersionNumber {
			t.Fatalf("code %d, %v", code, err)
		}
		var m pgproto3.StartupMessage
		if err := m.Decode(body); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(m.Parameters, params) {
			t.Fatalf("parameters %q, want %q", m.Parameters, params)
		}
	})
}

// startupPacket frames a startup packet's body with its length.
func startupPacket(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
	return append(out, body...)
}

// drainAll reads r to its end and returns what it read.
func drainAll(r io.Reader) []byte {
	b, _ := io.ReadAll(r)
	return b
}
