package sdk

import (
	"io"
	"net"
	"sync"
)

// relayBuffer is each direction's copy buffer: one TLS record. TLS
// connections and Unix sockets offer no ReadFrom, so io.Copy would hold
// 32 KiB per direction for a session's whole life.
const relayBuffer = 16 << 10

// Relay copies both ways between a and b until both directions end,
// half-closing each side when its source ends.
func Relay(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.CopyBuffer(b, a, make([]byte, relayBuffer))
		CloseWrite(b)
	})
	_, _ = io.CopyBuffer(a, b, make([]byte, relayBuffer))
	CloseWrite(a)
	wg.Wait()
}

// CloseWrite half-closes c so its peer sees the end of the stream, or
// closes it when it cannot be half-closed.
func CloseWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}
