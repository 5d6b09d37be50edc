package sdk

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// EnvAuditFD names the file descriptor of a plugin's audit pipe: a Unix
// stream socket whose other end the host reads. Each event in it is a
// 4-byte big-endian length and a JSON object (docs/audit.md).
const EnvAuditFD = "KEYWAY_AUDIT_FD"

// MaxAuditFrame bounds one event in the audit pipe.
const MaxAuditFrame = 64 << 20

// Audit pipe limits.
const (
	// pipeQueue bounds the events queued and not yet written: Audit
	// waits beyond it.
	pipeQueue = 8192
	// pipeFlushTime is how long an event that nobody waits for may stay
	// queued.
	pipeFlushTime = 20 * time.Millisecond
)

// auditPipe writes a plugin's audit events into the audit pipe. Once a
// write returns, its events are in the host's socket buffer: the host
// records them even if the plugin is killed the next instant. Writes are
// group commits: a goroutine that waits for its events writes every event
// queued until then in one system call, so a busy plugin makes few calls
// and an idle one waits for one. Events that nobody waits for are written
// within pipeFlushTime.
type auditPipe struct {
	w     io.Writer
	turn  chan struct{} // held by the goroutine writing
	flush chan struct{} // wakes the flusher
	once  sync.Once

	mu sync.Mutex
	// queue holds the framed events not yet written; queued is the
	// number of the last one, counting from 1.
	queue  []byte
	queued uint64
	// written: every event up to it is in the host's hands. changed is
	// closed, and replaced, after every write.
	written atomic.Uint64
	changed chan struct{}
	err     error
}

func newAuditPipe(w io.Writer) *auditPipe {
	return &auditPipe{w: w, turn: make(chan struct{}, 1), flush: make(chan struct{}, 1), changed: make(chan struct{})}
}

// processAuditPipe is where this process's audit events go to the host
// that started it: the audit ring when the host gave one, else the audit
// pipe; nil when it gave neither.
var processAuditPipe = sync.OnceValue(func() auditSender {
	fd, err := strconv.Atoi(os.Getenv(EnvAuditFD))
	if err != nil || fd < 3 {
		return nil
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "audit-pipe")
	conn, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil
	}
	if r := openAuditRing(conn); r != nil {
		return r
	}
	return newAuditPipe(conn)
})

// appendFrames appends each event's frame (its length, then its JSON) to
// dst.
func appendFrames(dst []byte, events []AuditEvent) ([]byte, error) {
	for i := range events {
		// The frame's length goes before the event once it is known.
		start := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		var err error
		if dst, err = events[i].AppendJSON(dst); err != nil {
			return dst, fmt.Errorf("encoding audit event: %w", err)
		}
		n := len(dst) - start - 4
		if n > MaxAuditFrame {
			return dst, fmt.Errorf("audit event of %d bytes exceeds %d", n, MaxAuditFrame)
		}
		binary.BigEndian.PutUint32(dst[start:], uint32(n))
	}
	return dst, nil
}

// enqueue queues events and returns the number of the last. Past
// pipeQueue unwritten events it writes them first: backpressure, not loss.
func (p *auditPipe) enqueue(ctx context.Context, events []AuditEvent) (AuditTicket, error) {
	p.once.Do(func() { go p.flusher() })
	frames, err := appendFrames(nil, events)
	if err != nil {
		return 0, err
	}
	n := uint64(len(events))
	for {
		p.mu.Lock()
		if p.err != nil {
			p.mu.Unlock()
			return 0, p.err
		}
		waiting := p.queued - p.written.Load()
		if waiting == 0 || waiting+n <= pipeQueue {
			p.queue = append(p.queue, frames...)
			p.queued += n
			t := AuditTicket(p.queued)
			p.mu.Unlock()
			select {
			case p.flush <- struct{}{}:
			default:
			}
			return t, nil
		}
		queued := AuditTicket(p.queued)
		p.mu.Unlock()
		if err := p.wait(ctx, queued); err != nil {
			return 0, fmt.Errorf("audit queue full: %w", err)
		}
	}
}

// wait returns once every event up to t is written, writing them itself
// unless another goroutine is at it.
func (p *auditPipe) wait(ctx context.Context, t AuditTicket) error {
	for {
		if p.written.Load() >= uint64(t) {
			return nil
		}
		p.mu.Lock()
		changed, err := p.changed, p.err
		p.mu.Unlock()
		if err != nil {
			return err
		}
		if p.written.Load() >= uint64(t) {
			return nil
		}
		// Taking the turn first, without waiting, leaves ctx alone:
		// a bound that starts when waited on (dbsession) then costs
		// nothing.
		select {
		case p.turn <- struct{}{}:
			p.writeQueued()
			<-p.turn
			continue
		default:
		}
		select {
		case p.turn <- struct{}{}:
			p.writeQueued()
			<-p.turn
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("audit event %d not yet written to the host: %w", t, ctx.Err())
		}
	}
}

// writeQueued writes every queued event; the caller holds the turn.
func (p *auditPipe) writeQueued() {
	p.mu.Lock()
	buf, last := p.queue, p.queued
	p.queue = nil
	p.mu.Unlock()
	if len(buf) == 0 {
		return
	}
	_, err := p.w.Write(buf)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if p.err == nil {
			p.err = fmt.Errorf("writing to the host's audit pipe: %w", err)
		}
	} else {
		p.written.Store(last)
		if p.queue == nil && cap(buf) <= 1<<20 {
			p.queue = buf[:0]
		}
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// flusher writes the events nobody waits for, such as a session's end,
// pipeFlushTime after they were queued.
func (p *auditPipe) flusher() {
	for range p.flush {
		time.Sleep(pipeFlushTime)
		p.turn <- struct{}{}
		p.writeQueued()
		<-p.turn
		p.mu.Lock()
		broken := p.err != nil
		p.mu.Unlock()
		if broken {
			return
		}
	}
}
