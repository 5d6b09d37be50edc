package postgres

import "io"

// waitBuffer is what a relay's reader holds of its own: enough for a few
// small messages, read while it waits for its peer.
const waitBuffer = 64

// lazyReader buffers reads from src like a bufio.Reader, but holds a
// buffer lent by the pool only while bytes arrive faster than the relay
// takes them. A read that may wait for the peer (the source gave less
// than was asked last time: it was drained) goes into a small array of
// the reader's own, so a session idle between statements holds no
// pooled buffer. Reads of at least readBuffer bytes go straight to the
// caller's slice.
type lazyReader struct {
	src  io.Reader
	pool *bufferPool
	// lent is the pooled buffer, nil while none is held; lent[r:w] is
	// unread.
	lent *[]byte
	// own[or:ow] is unread; it is read before lent is filled.
	own    [waitBuffer]byte
	or, ow int
	r, w   int
	// flowing is set when the last fill filled its buffer: more is
	// likely waiting in src, so the next fill uses a lent buffer.
	flowing bool
}

func newLazyReader(src io.Reader, pool *bufferPool) *lazyReader {
	return &lazyReader{src: src, pool: pool}
}

// Buffered is how many bytes can be read without reading src.
func (l *lazyReader) Buffered() int { return (l.ow - l.or) + (l.w - l.r) }

// Read reads what is buffered, or else fills a buffer from src once.
func (l *lazyReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.or < l.ow {
		n := copy(p, l.own[l.or:l.ow])
		l.or += n
		return n, nil
	}
	if l.r < l.w {
		n := copy(p, (*l.lent)[l.r:l.w])
		l.r += n
		if l.r == l.w {
			l.release()
		}
		return n, nil
	}
	if len(p) >= readBuffer {
		return l.src.Read(p)
	}
	if !l.flowing {
		n, err := l.src.Read(l.own[:])
		l.or, l.ow, l.flowing = 0, n, n == len(l.own)
		if n == 0 {
			return 0, err
		}
		m := copy(p, l.own[:n])
		l.or = m
		return m, nil
	}
	if l.lent == nil {
		l.lent = l.pool.reads.Get().(*[]byte)
	}
	n, err := l.src.Read(*l.lent)
	l.r, l.w, l.flowing = 0, n, n == len(*l.lent)
	if n == 0 {
		l.release()
		return 0, err
	}
	m := copy(p, (*l.lent)[:n])
	l.r = m
	if l.r == l.w {
		l.release()
	}
	return m, nil
}

// release gives the lent buffer back.
func (l *lazyReader) release() {
	if l.lent != nil {
		l.pool.reads.Put(l.lent)
		l.lent = nil
	}
	l.r, l.w = 0, 0
}
