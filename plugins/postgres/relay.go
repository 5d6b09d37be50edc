package postgres

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
)

// Relay buffering and limits.
const (
	// relayBuffer is a write buffer, lent only while there is something
	// to send.
	relayBuffer = 8 << 10
	// readBuffer is what each direction holds for reading whole the small
	// messages; larger reads go straight to the write buffer, and TLS
	// keeps its own record buffer.
	readBuffer = 2 << 10
	// maxAuditedMessage bounds what is read whole to be audited; larger
	// messages are relayed without being parsed.
	maxAuditedMessage = 16 << 20
	// maxMessage is PostgreSQL's own limit on a message.
	maxMessage = 1 << 30
)

// pending is a statement waiting for its outcome.
type pending struct {
	simple    bool
	query     string
	params    []string
	truncated bool
}

// tracker correlates a session's Parse, Bind and Execute with the server's
// answers, so each executed statement becomes one audit event.
type tracker struct {
	a *auditor

	mu         sync.Mutex
	statements map[string]string
	portals    map[string]pending
	queue      []pending
	// parsed is the text of the Parse messages since the last
	// ReadyForQuery, for a statement that fails before it executes.
	parsed []string
}

func newTracker(a *auditor) *tracker {
	return &tracker{a: a, statements: map[string]string{}, portals: map[string]pending{}}
}

// fromClient notes a client message; it returns after the message's
// audit event, if any, is queued.
func (t *tracker) fromClient(typ byte, body []byte) {
	switch typ {
	case 'Q':
		var m pgproto3.Query
		if m.Decode(body) != nil {
			return
		}
		e := t.a.event(sdkQuery, "TQ01", true)
		e.Query = m.String
		t.a.emit(e)
		t.mu.Lock()
		t.queue = append(t.queue, pending{simple: true, query: m.String})
		t.mu.Unlock()
	case 'P':
		var m pgproto3.Parse
		if m.Decode(body) != nil {
			return
		}
		t.mu.Lock()
		t.statements[m.Name] = m.Query
		t.parsed = append(t.parsed, m.Query)
		t.mu.Unlock()
	case 'B':
		var m pgproto3.Bind
		if m.Decode(body) != nil {
			return
		}
		params, truncated := t.a.params(m.Parameters, m.ParameterFormatCodes)
		t.mu.Lock()
		t.portals[m.DestinationPortal] = pending{query: t.statements[m.PreparedStatement], params: params, truncated: truncated}
		t.mu.Unlock()
	case 'E':
		var m pgproto3.Execute
		if m.Decode(body) != nil {
			return
		}
		t.mu.Lock()
		t.queue = append(t.queue, t.portals[m.Portal])
		t.mu.Unlock()
	}
}

// fromServer notes a server message and completes statements.
func (t *tracker) fromServer(typ byte, body []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch typ {
	case 'C', 'I', 's':
		if len(t.queue) == 0 || t.queue[0].simple {
			return
		}
		p := t.queue[0]
		t.queue = t.queue[1:]
		e := t.a.event(sdkStatement, "TS01", true)
		e.Query, e.Parameters, e.Truncated = p.query, p.params, p.truncated
		if typ == 'C' {
			var m pgproto3.CommandComplete
			if m.Decode(body) == nil {
				e.CommandTag = string(m.CommandTag)
				e.RowsAffected = rowsAffected(e.CommandTag)
			}
		}
		t.a.emit(e)
	case 'E':
		var p pending
		switch {
		case len(t.queue) > 0 && !t.queue[0].simple:
			p, t.queue = t.queue[0], t.queue[1:]
		case len(t.queue) == 0 && len(t.parsed) > 0:
			// Refused before it executed, at Parse, Bind or Describe.
			p = pending{query: t.parsed[len(t.parsed)-1]}
		default:
			return
		}
		e := t.a.event(sdkStatement, "TS02", false)
		e.Query, e.Parameters, e.Truncated = p.query, p.params, p.truncated
		var m pgproto3.ErrorResponse
		if m.Decode(body) == nil {
			e.Error = m.Code + ": " + m.Message
		}
		t.a.emit(e)
	case 'Z':
		// Statements still queued were skipped after an error.
		t.queue, t.parsed = t.queue[:0], t.parsed[:0]
	}
}

// relayMessages copies PostgreSQL messages from src to dst, showing
// note the ones it audits, and counting bytes. It flushes whenever src
// has nothing more buffered, so small messages travel together.
func relayMessages(src io.Reader, dst io.Writer, bufs *bufferPool, note func(typ byte, body []byte), audited func(byte) bool, count func(int)) error {
	r := bufio.NewReaderSize(src, readBuffer)
	w := &lazyWriter{dst: dst, pool: bufs}
	var hdr [5]byte
	for {
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			_ = w.Flush()
			return err
		}
		n := int64(int32(binary.BigEndian.Uint32(hdr[1:])))
		if n < 4 || n > maxMessage {
			_ = w.Flush()
			return fmt.Errorf("%w: message %q with length %d", errMalformed, hdr[0], n)
		}
		body := n - 4
		if audited(hdr[0]) && body <= maxAuditedMessage {
			buf := make([]byte, body)
			if _, err := io.ReadFull(r, buf); err != nil {
				return err
			}
			// Noted before it is passed on, so a message's audit event
			// is queued before anything can answer it.
			note(hdr[0], buf)
			if _, err := w.Write(hdr[:]); err != nil {
				return err
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
		} else {
			if _, err := w.Write(hdr[:]); err != nil {
				return err
			}
			if _, err := io.CopyN(w, r, body); err != nil {
				return err
			}
		}
		count(int(n) + 1)
	}
}

// recordedWriter writes to the client once the session's audit events so
// far are accepted by the host. The relay writes in flushes of whole
// buffers, so a session waits at most once per answer, and not at all
// when it queued nothing new.
type recordedWriter struct {
	w io.Writer
	a *auditor
}

func (r recordedWriter) Write(p []byte) (int, error) {
	if err := r.a.recorded(); err != nil {
		return 0, err
	}
	return r.w.Write(p)
}

// auditedFromClient and auditedFromServer name the messages the tracker
// reads.
func auditedFromClient(t byte) bool { return t == 'Q' || t == 'P' || t == 'B' || t == 'E' }
func auditedFromServer(t byte) bool {
	return t == 'C' || t == 'E' || t == 'Z' || t == 'I' || t == 's'
}

// relayAudited runs the session both ways with auditing. Nothing reaches
// the client before the host has accepted the events the session queued
// until then: the answer to a statement is released only once the
// statement is on record, so a crash of the plugin cannot lose the record
// of a statement whose result the client saw.
func relayAudited(t *tracker, bufs *bufferPool, countIn, countOut func(int), client, upstream net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = relayMessages(client, upstream, bufs, t.fromClient, auditedFromClient, countIn)
		sdk.CloseWrite(upstream)
	})
	_ = relayMessages(upstream, recordedWriter{w: client, a: t.a}, bufs, t.fromServer, auditedFromServer, countOut)
	sdk.CloseWrite(client)
	wg.Wait()
}

// relayPlain runs the session both ways without reading its messages, for
// when statements are not audited: it only counts bytes.
func relayPlain(countIn, countOut func(int), client, upstream net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.CopyBuffer(countingWriter{upstream, countIn}, client, make([]byte, relayBuffer))
		sdk.CloseWrite(upstream)
	})
	_, _ = io.CopyBuffer(countingWriter{client, countOut}, upstream, make([]byte, relayBuffer))
	sdk.CloseWrite(client)
	wg.Wait()
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
