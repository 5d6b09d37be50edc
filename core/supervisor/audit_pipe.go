package supervisor

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/auditring"
)

// Reading audit pipes.
const (
	// pipeBatch bounds the events recorded together; pipeLinger is how
	// long a batch gathers.
	pipeBatch  = 512
	pipeLinger = 20 * time.Millisecond
	// pipeQueue bounds the events read and not yet recorded: they wait
	// in batches of up to pipeBatch.
	pipeQueue = 8192
	// pipeRetry is the first pause before recording a refused batch
	// again; it doubles up to pipeRetryMax.
	pipeRetry    = 100 * time.Millisecond
	pipeRetryMax = 5 * time.Second
	// pipeRecordTimeout bounds one attempt to record a batch.
	pipeRecordTimeout = 30 * time.Second
)

// newAuditPipe returns both ends of a plugin's audit pipe (sdk.EnvAuditFD):
// the host reads its end; the plugin's end goes to the child process.
func newAuditPipe() (host net.Conn, plugin *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the audit pipe: %w", err)
	}
	hostFile := os.NewFile(uintptr(fds[0]), "audit-pipe")
	host, err = net.FileConn(hostFile)
	_ = hostFile.Close()
	if err != nil {
		_ = syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("creating the audit pipe: %w", err)
	}
	return host, os.NewFile(uintptr(fds[1]), "audit-pipe"), nil
}

// readAuditPipe records the events a plugin writes into its audit pipe,
// or into its audit ring (ringMem, nil when it has none) if it announces
// one, until the plugin's end of the pipe is closed: when the plugin
// exits, however it dies, what it wrote before is still in the socket or
// the ring and is recorded. The plugin's sessions wait at most for the
// write, so events are recorded in batches gathered for up to
// pipeLinger, as they were when they came over gRPC. A batch the audit
// log refuses is tried again and the pipe is not read meanwhile, so the
// plugin's sessions feel the backpressure instead of events being lost.
func readAuditPipe(conn net.Conn, ringMem []byte, backend auditRecorder, logger hclog.Logger) {
	batches := make(chan frameBatch, pipeQueue/pipeBatch)
	chunks := newChunkPool()
	go func() {
		defer close(batches)
		defer func() { _ = conn.Close() }()
		err := readAuditStream(bufio.NewReaderSize(conn, chunkSize), ringMem, batches, chunks, logger)
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			// Only a write the plugin never finished, so nothing it told
			// a client about.
			logger.Warn("the plugin ended in the middle of writing an audit event; the partial event is discarded")
		case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		default:
			logger.Error("reading the plugin's audit pipe failed", "error", err)
		}
	}()
	for {
		batch := collectEvents(batches)
		if len(batch.events) == 0 {
			return
		}
		recordBatch(backend, batch.events, logger)
		// The audit log keeps no part of the events it took.
		chunks.put(batch.chunks)
	}
}

// readAuditStream reads the frames of the pipe, or of the ring once the
// plugin announces it in the pipe, until the plugin ends.
func readAuditStream(pipe *bufio.Reader, ringMem []byte, batches chan<- frameBatch, chunks *chunkPool, logger hclog.Logger) error {
	if ringMem == nil {
		return readAuditFrames(pipe, batches, chunks, logger)
	}
	hello, err := pipe.Peek(len(auditring.Hello))
	if err != nil || [4]byte(hello) != auditring.Hello {
		if errors.Is(err, io.EOF) && len(hello) > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		return readAuditFrames(pipe, batches, chunks, logger)
	}
	_, _ = pipe.Discard(len(hello))
	ring, err := auditring.NewReader(ringMem, pipe)
	if err != nil {
		return err
	}
	return readAuditFrames(bufio.NewReaderSize(ring, chunkSize), batches, chunks, logger)
}

// readAuditFrames passes the events of the pipe on, in batches of those
// already read, until it ends.
func readAuditFrames(r *bufio.Reader, batches chan<- frameBatch, chunks *chunkPool, logger hclog.Logger) error {
	for {
		batch, err := readFrames(r, chunks, logger)
		if len(batch.events) > 0 {
			batches <- batch
		}
		if err != nil {
			return err
		}
	}
}

// frameBatch is events read together, held in chunks lent by a
// chunkPool.
type frameBatch struct {
	events [][]byte
	chunks []*[]byte
}

// readFrames waits for one event, then takes the whole events r already
// holds, up to pipeBatch, without waiting again.
func readFrames(r *bufio.Reader, chunks *chunkPool, logger hclog.Logger) (frameBatch, error) {
	var batch frameBatch
	var chunk []byte
	for len(batch.events) < pipeBatch {
		if len(batch.events) > 0 && !frameBuffered(r) {
			return batch, nil
		}
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return batch, err
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if n > sdk.MaxAuditFrame {
			logger.Error("the plugin wrote an audit event over the size limit; it is skipped", "bytes", n, "limit", sdk.MaxAuditFrame)
			if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
				return batch, unexpected(err)
			}
			continue
		}
		if cap(chunk)-len(chunk) < n {
			c := chunks.get(n)
			batch.chunks = append(batch.chunks, c)
			chunk = (*c)[:0]
		}
		start := len(chunk)
		chunk = chunk[:start+n]
		if _, err := io.ReadFull(r, chunk[start:]); err != nil {
			return batch, unexpected(err)
		}
		batch.events = append(batch.events, chunk[start:start+n:start+n])
	}
	return batch, nil
}

// frameBuffered reports whether r holds a whole event, so that reading
// it cannot wait.
func frameBuffered(r *bufio.Reader) bool {
	if r.Buffered() < 4 {
		return false
	}
	hdr, _ := r.Peek(4)
	n := int(binary.BigEndian.Uint32(hdr))
	return n <= sdk.MaxAuditFrame && r.Buffered() >= 4+n
}

// chunkSize is the size of the chunks events are read into, and of the
// buffer they are read from: what one read can hold. batchChunks bounds
// the chunks one batch holds, so events read a few at a time (a plugin
// writing into the pipe, not a ring) hold at most 1 MiB while they wait.
const (
	chunkSize   = 64 << 10
	batchChunks = 16
)

// chunkPool lends the memory events are read into until the audit log
// has taken them, so reading a busy plugin's events allocates nothing.
type chunkPool struct{ p sync.Pool }

func newChunkPool() *chunkPool {
	return &chunkPool{p: sync.Pool{New: func() any {
		b := make([]byte, chunkSize)
		return &b
	}}}
}

// get lends a chunk of at least n bytes; one larger than chunkSize is
// made for the event and not kept.
func (c *chunkPool) get(n int) *[]byte {
	if n > chunkSize {
		b := make([]byte, n)
		return &b
	}
	return c.p.Get().(*[]byte)
}

// put takes back chunks whose events are no longer used.
func (c *chunkPool) put(chunks []*[]byte) {
	for _, b := range chunks {
		if cap(*b) == chunkSize {
			c.p.Put(b)
		}
	}
}

// collectEvents waits for one batch of events, then takes those arriving
// within pipeLinger, up to pipeBatch events or batchChunks chunks (each
// read of a trickle of events takes a chunk of its own). It returns
// nothing once batches is closed and drained.
func collectEvents(batches <-chan frameBatch) frameBatch {
	batch, ok := <-batches
	if !ok {
		return frameBatch{}
	}
	timer := time.NewTimer(pipeLinger)
	defer timer.Stop()
	for len(batch.events) < pipeBatch && len(batch.chunks) < batchChunks {
		select {
		case more, ok := <-batches:
			if !ok {
				return batch
			}
			batch.events = append(batch.events, more.events...)
			batch.chunks = append(batch.chunks, more.chunks...)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// unexpected turns the end of the stream inside an event into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// auditRecorder is the part of HostBackend the audit pipe uses.
type auditRecorder interface {
	Audit(ctx context.Context, durable bool, eventsJSON [][]byte) error
}

// recordBatch hands events to the audit log, trying again until it takes
// them.
func recordBatch(backend auditRecorder, batch [][]byte, logger hclog.Logger) {
	pause := pipeRetry
	for {
		ctx, cancel := context.WithTimeout(context.Background(), pipeRecordTimeout)
		err := backend.Audit(ctx, false, batch)
		cancel()
		if err == nil {
			return
		}
		logger.Error("audit events could not be recorded; trying again", "count", len(batch), "error", err, "retry_in", pause)
		time.Sleep(pause)
		pause = min(pause*2, pipeRetryMax)
	}
}
