package postgres

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
)

// TestEndedSessionStopsAtAMessageBoundary ends a relay while the server
// is idle and while it is in the middle of a message: the client gets
// whole messages only, then keyway's FATAL ErrorResponse, then the end.
func TestEndedSessionStopsAtAMessageBoundary(t *testing.T) {
	row := dataRow("a long value that the server sends in two writes")
	cases := []struct {
		name   string
		before []byte // sent before the end, with after completing it
		after  []byte
		reason sdk.EndReason
		state  string
	}{
		{name: "idle server", reason: sdk.EndReason{Kind: sdk.EndLocked, Message: "keyway: locked for maintenance"}, state: "57P01"},
		{name: "mid message", before: row[:9], after: row[9:], reason: sdk.EndReason{Kind: sdk.EndIdle, Message: "keyway: idle"}, state: "57P05"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app, clientSide := net.Pipe()
			upSide, server := net.Pipe()
			src := &endReader{conn: upSide}
			done := make(chan struct{})
			go func() {
				defer close(done)
				relayPlain(newBufferPool(), func(int) {}, func(int) {}, clientSide, upSide, src, func() sdk.EndReason { return tc.reason })
			}()
			got := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(app); got <- b }()
			go func() { _, _ = io.Copy(io.Discard, server) }()
			if len(tc.before) > 0 {
				if _, err := server.Write(tc.before); err != nil {
					t.Fatal(err)
				}
			}
			src.end()
			if len(tc.after) > 0 {
				if _, err := server.Write(tc.after); err != nil {
					t.Fatal(err)
				}
			}
			var b []byte
			select {
			case b = <-got:
			case <-time.After(5 * time.Second):
				t.Fatal("the relay did not end")
			}
			whole := append(append([]byte{}, tc.before...), tc.after...)
			if !bytes.HasPrefix(b, whole) {
				t.Fatalf("client got %q, want the whole message %q first", b, whole)
			}
			rest := b[len(whole):]
			if len(rest) < 5 || rest[0] != 'E' {
				t.Fatalf("after the messages the client got %q, want an ErrorResponse", rest)
			}
			var e pgproto3.ErrorResponse
			if err := e.Decode(rest[5:]); err != nil {
				t.Fatal(err)
			}
			if e.Severity != "FATAL" || e.Code != tc.state || e.Message != tc.reason.Message {
				t.Fatalf("ErrorResponse %+v, want FATAL %s %q", e, tc.state, tc.reason.Message)
			}
			<-done
		})
	}
}

// dataRow encodes a DataRow of one text column.
func dataRow(v string) []byte {
	body := binary.BigEndian.AppendUint16(nil, 1)
	body = binary.BigEndian.AppendUint32(body, uint32(len(v)))
	body = append(body, v...)
	msg := []byte{'D'}
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(body)+4))
	return append(msg, body...)
}
