package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/dbsession"
)

// Relay buffering and limits.
const (
	// relayBuffer is a write buffer, lent only while there is something
	// to send: one TLS record's plaintext at most, so a result streamed
	// through goes out in full records, one system call each
	// (BenchmarkRelayStream: 10 to 35 % faster than at 8 KiB).
	relayBuffer = 16 << 10
	// plainBuffer is what the unaudited relay copies the client's bytes
	// through; it is held for the session's life, idle or not.
	plainBuffer = 8 << 10
	// readBuffer is what each direction borrows for reading whole the
	// small messages while they flow (lazyReader); larger reads go
	// straight to the write buffer, and TLS keeps its own record buffer.
	readBuffer = 2 << 10
	// wholeMessage bounds the client messages read whole to be decoded;
	// larger ones are decoded while they stream through, with the same
	// result.
	wholeMessage = 64 << 10
	// serverPrefix is how much of a CommandComplete or ErrorResponse is
	// read for its event; any rest streams through.
	serverPrefix = 64 << 10
	// smallMessage is how much of a message each direction reads into
	// memory of its own, rather than a new allocation, to decode it.
	smallMessage = 256
	// maxMessage is PostgreSQL's own limit on a message.
	maxMessage = 1 << 30
)

// frameHandler passes one message of n body bytes from r to w; hdr is its
// header, not yet written.
type frameHandler func(hdr []byte, n int64, r *lazyReader, w *lazyWriter) error

// relayFrames copies PostgreSQL messages from src to dst through handle,
// counting bytes. It flushes whenever src has nothing more buffered, so
// small messages travel together.
func relayFrames(src io.Reader, dst io.Writer, bufs *bufferPool, handle frameHandler, count func(int)) error {
	r := newLazyReader(src, bufs)
	defer r.release()
	w := &lazyWriter{dst: dst, pool: bufs}
	in, _ := src.(interruptible)
	var hdr [5]byte
	for {
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if in != nil {
			// Between two messages: the place to stop when keyway ends
			// the session.
			if in.isEnded() {
				_ = w.Flush()
				return errSessionEnded
			}
			in.atBoundary(r.Buffered() == 0)
		}
		_, err := io.ReadFull(r, hdr[:])
		if in != nil {
			in.atBoundary(false)
		}
		if err != nil {
			_ = w.Flush()
			return err
		}
		n := int64(int32(binary.BigEndian.Uint32(hdr[1:])))
		if n < 4 || n > maxMessage {
			_ = w.Flush()
			return fmt.Errorf("%w: message %q with length %d", errMalformed, hdr[0], n)
		}
		if err := handle(hdr[:], n-4, r, w); err != nil {
			_ = w.Flush()
			return err
		}
		if in != nil {
			in.passed(hdr[0])
		}
		count(int(n) + 1)
	}
}

// relayFromClient copies the client's messages to the server. Each is
// queued with the tracker before its last byte is passed on, so the
// server cannot answer a message the tracker has not seen; one the
// tracker refuses never reaches the server whole.
func relayFromClient(src io.Reader, dst io.Writer, bufs *bufferPool, t *tracker, count func(int)) error {
	var small [smallMessage]byte
	return relayFrames(src, dst, bufs, func(hdr []byte, n int64, r *lazyReader, w *lazyWriter) error {
		typ := hdr[0]
		if !decodesBody(typ) {
			if err := t.fromClient(request{typ: typ}); err != nil {
				return err
			}
			if _, err := w.Write(hdr); err != nil {
				return err
			}
			return w.copyN(r, n)
		}
		if n <= wholeMessage {
			// Decoding copies what it keeps, so a small body is read
			// into memory the relay reuses.
			body := reuse(small[:], int(n))
			if _, err := io.ReadFull(r, body); err != nil {
				return err
			}
			if err := t.fromClient(decodeRequest(typ, wholeFields(body), t.maxParam)); err != nil {
				return err
			}
			if _, err := w.Write(hdr); err != nil {
				return err
			}
			_, err := w.Write(body)
			return err
		}
		// A large message is decoded as it streams through, all but its
		// last byte.
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		held := &holdLast{w: w}
		body := io.TeeReader(io.LimitReader(r, n), held)
		req := decodeRequest(typ, streamFields(body), t.maxParam)
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		if held.n != n {
			return io.ErrUnexpectedEOF
		}
		if err := t.fromClient(req); err != nil {
			return err
		}
		return held.release()
	}, count)
}

// relayFromServer copies the server's messages to the client. Each is
// shown to the tracker before any of it is passed on, so the events of
// the statements it completes are queued before the client can see it.
// DataRow and CopyData, the bulk of a result, change nothing the tracker
// follows and pass untouched.
func relayFromServer(src io.Reader, dst io.Writer, bufs *bufferPool, t *tracker, count func(int)) error {
	var small [smallMessage]byte
	return relayFrames(src, dst, bufs, func(hdr []byte, n int64, r *lazyReader, w *lazyWriter) error {
		typ := hdr[0]
		var prefix []byte
		switch typ {
		case 'D', 'd':
		case 'C', 'E', 'Z':
			// The tracker copies what it keeps.
			prefix = reuse(small[:], int(min(n, serverPrefix)))
			if _, err := io.ReadFull(r, prefix); err != nil {
				return err
			}
			fallthrough
		default:
			if err := t.fromServer(typ, prefix); err != nil {
				return err
			}
		}
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		if _, err := w.Write(prefix); err != nil {
			return err
		}
		return w.copyN(r, n-int64(len(prefix)))
	}, count)
}

// reuse returns n bytes of buf when they fit, else new memory.
func reuse(buf []byte, n int) []byte {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]byte, n)
}

// holdLast writes what it is given except the last byte so far, which
// release writes.
type holdLast struct {
	w    io.Writer
	n    int64
	last []byte
}

func (h *holdLast) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(h.last) == 1 {
		if _, err := h.w.Write(h.last); err != nil {
			return 0, err
		}
	}
	if _, err := h.w.Write(p[:len(p)-1]); err != nil {
		return 0, err
	}
	h.last = append(h.last[:0], p[len(p)-1])
	h.n += int64(len(p))
	return len(p), nil
}

func (h *holdLast) release() error {
	_, err := h.w.Write(h.last)
	return err
}

// recordedWriter writes to the client once the session's audit events so
// far are accepted by the host. The relay writes in flushes of whole
// buffers, so a session waits at most once per answer, and not at all
// when it queued nothing new.
type recordedWriter struct {
	w io.Writer
	a *dbsession.Audit
}

func (r recordedWriter) Write(p []byte) (int, error) {
	if err := r.a.Recorded(); err != nil {
		return 0, err
	}
	return r.w.Write(p)
}

// relayAudited runs the session both ways with auditing. Nothing reaches
// the client before the host has accepted the events the session queued
// until then: the answer to a statement is released only once the
// statement is on record, so a crash of the plugin cannot lose the record
// of a statement whose result the client saw. When the tracker refuses a
// message or loses track, the session ends with an ErrorResponse that
// says why.
//
// server is upstream's reading side; when keyway ends the session it
// stops between two messages and the client is told why (end).
func relayAudited(t *tracker, bufs *bufferPool, countIn, countOut func(int), client, upstream net.Conn, server io.Reader, end func() sdk.EndReason) *stalledError {
	var wg sync.WaitGroup
	var refused error
	wg.Go(func() {
		err := relayFromClient(client, upstream, bufs, t, countIn)
		if errors.Is(err, errTooMuchPending) {
			refused = err
		}
		sdk.CloseWrite(upstream)
	})
	err := relayFromServer(server, recordedWriter{w: client, a: t.a}, bufs, t, countOut)
	if errors.Is(err, errSessionEnded) {
		r := end()
		fatal(recordedWriter{w: client, a: t.a}, endState(r), endMessage(r), "")
		_ = upstream.Close()
		_ = client.Close()
	}
	if errors.Is(err, errLostTrack) {
		// Whatever the server says next cannot be placed: end both ways.
		fatal(recordedWriter{w: client, a: t.a}, stateProtocolViolation, err.Error()+"; the session is closed, and the statements whose outcome is unknown are recorded as such", "")
		_ = upstream.Close()
		_ = client.Close()
	}
	stalled := endIfStalled(err, client, upstream)
	wg.Wait()
	if refused != nil {
		fatal(recordedWriter{w: client, a: t.a}, stateProgramLimitExceeded, refused.Error(), "")
	}
	sdk.CloseWrite(client)
	return stalled
}

// endIfStalled closes both connections when err is a client that took
// nothing for its write timeout: the client's own direction would
// otherwise wait for it for ever. It returns that error, else nil.
func endIfStalled(err error, client, upstream net.Conn) *stalledError {
	var stalled *stalledError
	if !errors.As(err, &stalled) {
		return nil
	}
	_ = upstream.Close()
	_ = client.Close()
	return stalled
}

// relayPlain runs the session both ways without decoding its messages,
// for when statements are not audited: it only counts bytes. The server's
// side is still cut at message boundaries, so that when keyway ends the
// session (server stops with errSessionEnded) its error reaches the
// client whole.
func relayPlain(bufs *bufferPool, countIn, countOut func(int), client, upstream net.Conn, server io.Reader, end func() sdk.EndReason) *stalledError {
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.CopyBuffer(countingWriter{upstream, countIn}, client, make([]byte, plainBuffer))
		sdk.CloseWrite(upstream)
	})
	err := relayFrames(server, client, bufs, passFrame, countOut)
	if errors.Is(err, errSessionEnded) {
		r := end()
		fatal(client, endState(r), endMessage(r), "")
		_ = upstream.Close()
		_ = client.Close()
	}
	stalled := endIfStalled(err, client, upstream)
	sdk.CloseWrite(client)
	wg.Wait()
	return stalled
}

// passFrame passes a message on unread.
func passFrame(hdr []byte, n int64, r *lazyReader, w *lazyWriter) error {
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	return w.copyN(r, n)
}

// countingWriter counts what it writes. It hides the destination's
// ReadFrom, so io.CopyBuffer uses the buffer it is given.
type countingWriter struct {
	w     io.Writer
	count func(int)
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.count(n)
	return n, err
}
