package postgres

import (
	"io"
	"sync"
)

// bufferPool lends relays their buffers: write buffers while they have
// something to send, read buffers while they hold unread bytes. An idle
// session holds none.
type bufferPool struct{ p, reads sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{
		p: sync.Pool{New: func() any {
			b := make([]byte, 0, relayBuffer)
			return &b
		}},
		reads: sync.Pool{New: func() any {
			b := make([]byte, readBuffer)
			return &b
		}},
	}
}

// lazyWriter buffers writes to dst in a borrowed buffer and gives the
// buffer back whenever it is flushed empty.
type lazyWriter struct {
	dst  io.Writer
	pool *bufferPool
	buf  *[]byte
}

func (w *lazyWriter) borrow() []byte {
	if w.buf == nil {
		w.buf = w.pool.p.Get().(*[]byte)
		*w.buf = (*w.buf)[:0]
	}
	return *w.buf
}

// Write buffers p, sending the buffer first when p does not fit.
func (w *lazyWriter) Write(p []byte) (int, error) {
	b := w.borrow()
	if len(b)+len(p) > cap(b) {
		if err := w.send(); err != nil {
			return 0, err
		}
		if len(p) >= cap(b) {
			return w.dst.Write(p)
		}
		b = *w.buf
	}
	*w.buf = append(b, p...)
	return len(p), nil
}

// copyN reads n bytes from r into the buffer, sending it as it fills:
// a message body streamed through. Like io.CopyN it returns io.EOF when
// r ends first, but it makes no LimitedReader: it runs for every
// message.
func (w *lazyWriter) copyN(r io.Reader, n int64) error {
	for n > 0 {
		b := w.borrow()
		if len(b) == cap(b) {
			if err := w.send(); err != nil {
				return err
			}
			b = *w.buf
		}
		room := b[len(b):cap(b)]
		if int64(len(room)) > n {
			room = room[:n]
		}
		m, err := r.Read(room)
		*w.buf = b[:len(b)+m]
		n -= int64(m)
		if n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// send writes the buffer out and keeps it.
func (w *lazyWriter) send() error {
	if w.buf == nil || len(*w.buf) == 0 {
		return nil
	}
	_, err := w.dst.Write(*w.buf)
	*w.buf = (*w.buf)[:0]
	return err
}

// Flush writes the buffer out and gives it back.
func (w *lazyWriter) Flush() error {
	err := w.send()
	if w.buf != nil {
		w.pool.p.Put(w.buf)
		w.buf = nil
	}
	return err
}
