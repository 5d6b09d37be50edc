package wire

import (
	"bytes"
	"testing"
)

// FuzzReadPackets: whatever a peer sends, the reader and the parsers
// return packets or errors, never panic, never read past their input and
// never hold more than the limit.
func FuzzReadPackets(f *testing.F) {
	greeting := (&Greeting{ServerVersion: "10.11", AuthData: []byte("01234567890123456789"), Capabilities: Supported, AuthPlugin: "mysql_native_password"}).Append(nil)
	login := (&Login{Capabilities: Supported, User: "alice", AuthResponse: []byte{1}, Database: "shop", Attributes: [][2]string{{"a", "b"}}}).Append(nil)
	for _, p := range [][]byte{greeting, login, {ComQuery, 's', 'e', 'l'}, {ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, TypeLong, 0, 1, 2, 3, 4}} {
		b, _ := AppendPacket(nil, 0, p)
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0, 1})
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		r.Limit = limit
		read := 0
		for {
			p, err := r.Next()
			if err != nil {
				break
			}
			if len(p.Payload) > limit {
				t.Fatalf("a packet of %d bytes passed a limit of %d", len(p.Payload), limit)
			}
			read += len(p.Payload) + 4
			if read > len(in) {
				t.Fatalf("read %d bytes of payload and headers from %d bytes", read, len(in))
			}
			_, _ = ParseGreeting(p.Payload)
			_, _ = ParseLogin(p.Payload)
			_, _ = ParseOK(p.Payload, Supported)
			_ = ParseError(p.Payload, Supported)
			_, _ = ParsePrepareOK(p.Payload)
			if len(p.Payload) > 0 {
				n := int(p.Payload[0] % 8)
				_, _ = ParseExecute(p.Payload, n, nil)
				_, _ = ParseExecute(p.Payload, n, make([]ParamType, n))
			}
		}
	})
}
