package proxy

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

// protocols as two plugins might declare them: one with fixed 8-byte
// requests, a longer out-of-band request and a masked catch-all, and one
// whose preamble is a single byte.
var testProtocols = []Protocol{
	{Name: "alpha", Preambles: []sdk.Preamble{
		{Name: "TLSPlease", Match: []byte{0, 0, 0, 8, 1, 2, 3, 4}, Action: sdk.PreambleTLS, Reply: []byte("S")},
		{Name: "Cancel", Match: []byte{0, 0, 0, 16, 1, 2, 3, 5}, Length: 16, Action: sdk.PreambleOutOfBand},
		{Name: "Plain", Match: []byte{0, 0, 0, 0, 0, 3, 0, 0}, Mask: []byte{0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, Action: sdk.PreamblePlaintext},
	}},
	{Name: "beta", Preambles: []sdk.Preamble{{Name: "Hi", Match: []byte{7}, Action: sdk.PreambleTLS}}},
}

// stingy is a reader that fails when asked for more than it holds, as a
// client that sent its preamble and waits for the answer would hang.
type stingy struct{ b []byte }

func (s *stingy) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, errors.New("read past what the client sent: it would wait for an answer")
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func TestSniff(t *testing.T) {
	cancel := append([]byte{0, 0, 0, 16, 1, 2, 3, 5}, 9, 9, 9, 9, 8, 8, 8, 8)
	tests := []struct {
		name     string
		sent     []byte
		protocol string
		preamble string
		err      error
	}{
		{"a TLS request of 8 bytes", []byte{0, 0, 0, 8, 1, 2, 3, 4}, "alpha", "TLSPlease", nil},
		{"an out-of-band request read whole", cancel, "alpha", "Cancel", nil},
		{"a plaintext start of any length", []byte{0, 0, 0x01, 0x20, 0, 3, 0, 0}, "alpha", "Plain", nil},
		{"one byte is enough for beta", []byte{7}, "beta", "Hi", nil},
		{"bytes nobody declared", []byte{0, 0, 0, 8, 9, 9, 9, 9}, "", "", errUnknownPreamble},
		{"a first byte nobody declared", []byte{5}, "", "", errUnknownPreamble},
		{"a client that hangs up", []byte{0, 0, 0}, "", "", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = &stingy{b: tt.sent[1:]}
			if tt.err == io.ErrUnexpectedEOF {
				r = bytes.NewReader(tt.sent[1:])
			}
			m, head, err := sniff(r, tt.sent[:1], testProtocols)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.protocol != tt.protocol || m.preamble.Name != tt.preamble || !bytes.Equal(head, tt.sent) {
				t.Fatalf("matched %s/%s with %x; want %s/%s with %x", m.protocol, m.preamble.Name, head, tt.protocol, tt.preamble, tt.sent)
			}
		})
	}
}
