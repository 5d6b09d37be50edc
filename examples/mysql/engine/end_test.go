package engine

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// TestEndedSessionGetsAKilledConnectionError ends a live relay: the
// client reads an ERR packet 1927 (70100) with keyway's sentence, then
// the connection closes.
func TestEndedSessionGetsAKilledConnectionError(t *testing.T) {
	app, clientSide := net.Pipe()
	upSide, server := net.Pipe()
	defer func() { _ = server.Close() }()
	ending := make(chan struct{})
	r := &relay{client: clientSide, upstream: upSide, countIn: func(int) {}, countOut: func(int) {},
		ending: ending, endReason: func() sdk.EndReason {
			return sdk.EndReason{Kind: sdk.EndLocked, Message: "keyway: access is locked for user alice by an administrator"}
		}}
	reason := make(chan string, 1)
	go func() { reason <- r.run() }()
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(app); got <- b }()
	close(ending)
	var b []byte
	select {
	case b = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end")
	}
	if len(b) < 13 || b[4] != 0xff {
		t.Fatalf("client got %x, want an ERR packet", b)
	}
	if code := binary.LittleEndian.Uint16(b[5:7]); code != 1927 || !bytes.Equal(b[7:13], []byte("#70100")) {
		t.Fatalf("ERR %d %q, want 1927 #70100", code, b[7:13])
	}
	if !strings.Contains(string(b[13:]), "locked for user alice") {
		t.Fatalf("message %q", b[13:])
	}
	if why := <-reason; !strings.Contains(why, "locked") {
		t.Fatalf("relay ended because %q", why)
	}
}
