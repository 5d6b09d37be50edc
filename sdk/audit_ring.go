package sdk

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/keyway-dev/keyway/sdk/auditring"
)

// EnvAuditRingFD names the file descriptor of a plugin's audit ring
// (package auditring), which the host gives beside the audit pipe where
// it can. A plugin that uses it writes auditring.Hello into the pipe
// first; from then on the pipe only wakes the host.
const EnvAuditRingFD = "KEYWAY_AUDIT_RING_FD"

// auditRing writes a plugin's audit events into the audit ring. Once
// enqueue returns, the events are in memory the host maps: they outlive
// the plugin, and nobody has to wait for them. Writing is a copy under a
// lock, with no system call while the host is reading.
type auditRing struct {
	mu     sync.Mutex
	w      *auditring.Writer
	queued uint64
	err    error
}

// frameBuffers holds the buffers events are encoded into before they are
// copied into the ring.
var frameBuffers = sync.Pool{New: func() any { return new([]byte) }}

// openAuditRing maps the ring the host gave, announcing it on the audit
// pipe; nil when the host gave none or it cannot be used, and the events
// then go into the pipe.
func openAuditRing(pipe net.Conn) *auditRing {
	fd, err := strconv.Atoi(os.Getenv(EnvAuditRingFD))
	if err != nil || fd < 3 {
		return nil
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "audit-ring")
	defer func() { _ = f.Close() }()
	w, err := auditring.Open(f, pipe)
	if err != nil {
		return nil
	}
	return &auditRing{w: w}
}

func (r *auditRing) enqueue(ctx context.Context, events []AuditEvent) (AuditTicket, error) {
	buf := frameBuffers.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= 64<<10 {
			frameBuffers.Put(buf)
		}
	}()
	frames, err := appendFrames((*buf)[:0], events)
	*buf = frames
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	if err := r.w.Write(ctx, frames); err != nil {
		// A part of the frames may be in the ring: nothing after it
		// could be read as a frame, so the ring is done.
		r.err = err
		return 0, err
	}
	r.queued += uint64(len(events))
	return AuditTicket(r.queued), nil
}

// wait has nothing to wait for: enqueue returned the ticket once its
// events were in the ring.
func (r *auditRing) wait(context.Context, AuditTicket) error { return nil }
