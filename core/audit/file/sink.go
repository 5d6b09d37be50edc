package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// ErrClosed is returned by Emit and EmitDurable after Close.
var ErrClosed = errors.New("audit file: sink closed")

// Sink appends audit events to a JSON-lines file. It implements
// audit.Log: Emit queues events for a single writer goroutine, which
// appends them in batches and syncs them according to the fsync policy;
// EmitDurable returns once its events, and all queued before them, are
// written and synced.
//
// When the file cannot be written the sink becomes unavailable: Healthy
// reports the error, Emit and EmitDurable fail with it instead of
// queueing, and the events already queued are kept in memory and retried
// every second until a write succeeds or Close gives up on them. Nothing
// is dropped without an error being returned to someone: an EmitDurable
// that fails may still have its events written by a later retry, so
// delivery is at least once.
type Sink struct {
	opts Options

	mu      sync.Mutex
	pending []item
	depth   int           // event lines in pending
	space   chan struct{} // closed when the writer takes pending
	err     error         // last write error; nil while healthy
	closed  bool

	wake      chan struct{} // tells the writer there is work; capacity 1
	closing   chan struct{} // closed by Close
	done      chan struct{} // closed when the writer has finished
	closeOnce sync.Once
	closeErr  error

	stats counters
}

// item is one queued line, or, when done is set, a request to sync
// everything before it and report the result.
type item struct {
	line []byte
	done chan error
}

// counters are updated by the writer and read by Stats.
type counters struct {
	written   atomic.Int64
	bytes     atomic.Int64
	syncs     atomic.Int64
	rotations atomic.Int64
}

// Stats are a Sink's counters.
type Stats struct {
	// Written is the number of events written to the file.
	Written int64 `json:"written"`
	// Bytes is the number of bytes written.
	Bytes int64 `json:"bytes"`
	// QueueDepth is the number of events waiting for the writer.
	QueueDepth int `json:"queue_depth"`
	// Syncs and Rotations count fsync calls and file rotations.
	Syncs     int64 `json:"syncs"`
	Rotations int64 `json:"rotations"`
}

var _ audit.Log = (*Sink)(nil)

// Open starts a sink writing to o.Path. It fails only for invalid
// options: when the file cannot be opened, the sink starts unavailable
// (Healthy returns the error) and keeps trying, so a caller that must not
// run without an audit log checks Healthy after Open.
func Open(o Options) (*Sink, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sink{
		opts:    o,
		space:   make(chan struct{}),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	w := &writer{opts: o, stats: &s.stats}
	if err := w.flush(); err != nil {
		s.err = err
	}
	go s.run(w)
	return s, nil
}

// Emit queues events. It blocks while the queue is full, until there is
// room or ctx is done, and fails when the sink is unavailable or closed.
// A call with more events than the queue holds waits for an empty queue.
func (s *Sink) Emit(ctx context.Context, events ...audit.Event) error {
	lines, err := s.encode(events)
	if err != nil {
		return err
	}
	return s.enqueue(ctx, lines, nil)
}

// EmitDurable queues events behind everything already queued and returns
// once they are written and synced, whatever the fsync policy. With no
// events it waits for everything queued before it.
func (s *Sink) EmitDurable(ctx context.Context, events ...audit.Event) error {
	lines, err := s.encode(events)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	if err := s.enqueue(ctx, lines, done); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit file: waiting for events to be synced: %w", ctx.Err())
	}
}

// EmitJSON queues events already encoded as JSON objects, as protocol
// plugins send them, without decoding and encoding them again. Each must
// be a valid JSON object on one line (surrounding whitespace is
// trimmed); durable waits until they are synced.
func (s *Sink) EmitJSON(ctx context.Context, durable bool, objects [][]byte) error {
	size := 0
	for i, o := range objects {
		o = bytes.TrimSpace(o)
		if !lineObject(o) {
			return fmt.Errorf("audit file: event %d is not a JSON object on one line", i)
		}
		size += len(o) + 1
	}
	// The lines share one allocation.
	buf := make([]byte, 0, size)
	lines := make([][]byte, len(objects))
	for i, o := range objects {
		start := len(buf)
		buf = append(append(buf, bytes.TrimSpace(o)...), '\n')
		lines[i] = buf[start:len(buf):len(buf)]
	}
	if !durable {
		return s.enqueue(ctx, lines, nil)
	}
	done := make(chan error, 1)
	if err := s.enqueue(ctx, lines, done); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit file: waiting for events to be synced: %w", ctx.Err())
	}
}

// Healthy returns nil while the file is writable, else the last write
// error.
func (s *Sink) Healthy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stats returns the sink's counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	depth := s.depth
	s.mu.Unlock()
	return Stats{
		Written:    s.stats.written.Load(),
		Bytes:      s.stats.bytes.Load(),
		QueueDepth: depth,
		Syncs:      s.stats.syncs.Load(),
		Rotations:  s.stats.rotations.Load(),
	}
}

// Path returns the active file's path.
func (s *Sink) Path() string { return s.opts.Path }

// Close writes and syncs what is queued, closes the file and stops the
// writer. It reports events that could not be written. Emit and
// EmitDurable fail with ErrClosed afterwards.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
	})
	<-s.done
	return s.closeErr
}

// encode renders events as JSON lines, filling in Cluster and Time.
func (s *Sink) encode(events []audit.Event) ([][]byte, error) {
	var b []byte
	ends := make([]int, len(events))
	now := time.Now().UTC()
	for i, e := range events {
		if e.Cluster == "" {
			e.Cluster = s.opts.Cluster
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		var err error
		if b, err = e.AppendJSON(b); err != nil {
			return nil, fmt.Errorf("audit file: encoding %s event: %w", e.Event, err)
		}
		b = append(b, '\n')
		ends[i] = len(b)
	}
	lines := make([][]byte, len(events))
	start := 0
	for i, end := range ends {
		lines[i] = b[start:end:end]
		start = end
	}
	return lines, nil
}

// enqueue appends lines, and a sync request when done is set, to the
// queue, waiting for room.
func (s *Sink) enqueue(ctx context.Context, lines [][]byte, done chan error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return ErrClosed
		case s.err != nil:
			err := s.err
			s.mu.Unlock()
			return fmt.Errorf("audit log unavailable: %w", err)
		case s.depth == 0 || s.depth+len(lines) <= s.opts.QueueSize:
			for _, l := range lines {
				s.pending = append(s.pending, item{line: l})
			}
			if done != nil {
				s.pending = append(s.pending, item{done: done})
			}
			s.depth += len(lines)
			s.mu.Unlock()
			select {
			case s.wake <- struct{}{}:
			default:
			}
			return nil
		}
		space := s.space
		s.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return fmt.Errorf("audit file: queue full: %w", ctx.Err())
		}
	}
}

// take hands the queue to the writer and wakes blocked emitters.
func (s *Sink) take() []item {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := s.pending
	if len(items) > 0 {
		s.pending = nil
		s.depth = 0
		close(s.space)
		s.space = make(chan struct{})
	}
	return items
}

// setErr records the writer's health.
func (s *Sink) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// run is the writer goroutine.
func (s *Sink) run(w *writer) {
	defer close(s.done)
	period := min(s.opts.FsyncInterval, s.opts.retryEvery)
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		closing := false
		select {
		case <-s.wake:
		case now := <-tick.C:
			w.tick(now)
		case <-s.closing:
			closing = true
		}
		w.process(s.take())
		s.setErr(w.err)
		if closing {
			s.closeErr = w.shutdown()
			return
		}
	}
}
