package sdk

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Relay buffers. A direction reads into a small array of its own while
// it may wait for its peer, and borrows a full buffer (one TLS record)
// only while bytes flow: an idle session holds no large buffer. (TLS
// connections and Unix sockets offer no ReadFrom, so io.Copy would hold
// 32 KiB per direction for a session's whole life.)
const (
	relayWaitBuffer = 1 << 10
	relayBuffer     = 16 << 10
)

// relayBuffers lends the buffers of flowing directions.
var relayBuffers = sync.Pool{New: func() any { b := make([]byte, relayBuffer); return &b }}

// HalfCloseWriteTimeout bounds each write of a relay after one of its
// directions has ended: the side that sent the end of its stream has
// this long to take every further chunk, or the relay closes both
// connections.
const HalfCloseWriteTimeout = 5 * time.Second

// Relay copies both ways between a and b until both directions end. A
// direction whose source ends cleanly half-closes its destination, so the
// peer sees the end of the stream while the other direction goes on, but
// from then on every write must complete within HalfCloseWriteTimeout: a
// peer that has gone away and stopped reading (a tunnel stream whose far
// end closed blocks its writer) cannot hold the relay. A direction that
// fails, in its read or its write, closes both connections at once, which
// releases the other direction wherever it is blocked. The caller still
// closes a and b afterwards.
func Relay(a, b net.Conn) {
	r := &relay{a: a, b: b}
	var wg sync.WaitGroup
	wg.Go(func() { r.copy(b, a) })
	r.copy(a, b)
	wg.Wait()
}

// relay is one Relay call's shared state.
type relay struct {
	a, b net.Conn
	// ended is set once either direction has ended.
	ended atomic.Bool
	close sync.Once
}

// copy moves src to dst until src ends or either fails.
func (r *relay) copy(dst, src net.Conn) {
	if err := copyLazily(boundedWriter{dst: dst, r: r}, src); err != nil {
		r.closeBoth()
		return
	}
	CloseWrite(dst)
	if !r.ended.Swap(true) {
		// The other direction writes into src; a write already blocked
		// there gets the bound too (setting a deadline wakes it).
		_ = src.SetWriteDeadline(time.Now().Add(HalfCloseWriteTimeout))
	}
}

// copyLazily copies src to dst until src ends, reading into a small array
// of its own after a read that drained src (the next may wait), and into
// a lent buffer after one that filled its buffer (more is likely there).
// Each read is written before the next, so nothing waits in a buffer
// while the relay waits for more.
func copyLazily(dst io.Writer, src io.Reader) error {
	var own [relayWaitBuffer]byte
	flowing := false
	for {
		buf, lent := own[:], (*[]byte)(nil)
		if flowing {
			lent = relayBuffers.Get().(*[]byte)
			buf = *lent
		}
		n, err := src.Read(buf)
		flowing = n == len(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if lent != nil {
			relayBuffers.Put(lent)
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

func (r *relay) closeBoth() {
	r.close.Do(func() {
		_ = r.a.Close()
		_ = r.b.Close()
	})
}

// boundedWriter writes to dst, giving each write a deadline once the relay
// has a direction that ended.
type boundedWriter struct {
	dst net.Conn
	r   *relay
}

func (w boundedWriter) Write(p []byte) (int, error) {
	if w.r.ended.Load() {
		_ = w.dst.SetWriteDeadline(time.Now().Add(HalfCloseWriteTimeout))
	}
	return w.dst.Write(p)
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
