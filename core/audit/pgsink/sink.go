package pgsink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/keyway-dev/keyway/core/audit"
)

// ErrClosed is returned by Emit and EmitDurable after Close.
var ErrClosed = errors.New("audit postgres: sink closed")

// Sink writes audit events to a PostgreSQL table. It implements
// audit.Log; see the package documentation for its guarantees.
type Sink struct {
	opts   Options
	cfg    *pgx.ConnConfig
	table  table
	insert string

	mu      sync.Mutex
	queue   []item
	depth   int           // rows in queue
	changed chan struct{} // closed when the queue shrinks or the health changes
	err     error         // why the database cannot be reached; nil while available
	closed  bool

	wake      chan struct{} // tells the writer there is work; capacity 1
	closing   chan struct{} // closed by Close
	done      chan struct{} // closed when the writer has finished
	closeOnce sync.Once
	closeErr  error

	written  atomic.Int64
	batches  atomic.Int64
	failures atomic.Int64
	refused  atomic.Int64
}

// item is one queued row, or, with no row, a barrier that waits for
// everything before it. Items of one EmitDurable call share a group.
type item struct {
	row     row
	barrier bool
	group   *group
	// last marks the group's last item: when it is committed, so is the
	// whole group.
	last bool
}

// group is one EmitDurable call waiting for its commit.
type group struct {
	done chan error // capacity 1, answered once
}

// Stats are a Sink's counters.
type Stats struct {
	// Written counts events committed to the table (including ones the
	// table already had).
	Written int64 `json:"written"`
	// QueueDepth is the number of events waiting to be written.
	QueueDepth int `json:"queue_depth"`
	// Batches counts committed transactions; Failures failed attempts to
	// connect or write.
	Batches  int64 `json:"batches"`
	Failures int64 `json:"failures"`
	// Refused counts events refused because the queue was full while the
	// database was away.
	Refused int64 `json:"refused"`
}

var _ audit.Log = (*Sink)(nil)

// Open checks o, reads its files, and starts a sink. It makes one
// attempt to connect and create the table before it returns: when that
// fails the sink starts unavailable (Healthy returns why) and keeps
// trying, so a caller that must not run without an audit log checks
// Healthy after Open. Open itself fails only for invalid options or
// unreadable or too open files.
func Open(o Options) (*Sink, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg, err := connConfig(o)
	if err != nil {
		return nil, err
	}
	t := newTable(o.Table)
	s := &Sink{
		opts: o, cfg: cfg, table: t, insert: insertSQL(t),
		changed: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	w := newWriter(s)
	if err := w.ensureConn(); err != nil {
		w.failed(err)
	}
	go s.run(w)
	return s, nil
}

// Emit queues events. While the database is available it waits for room
// in a full queue (backpressure) until ctx is done; while it is away, a
// full queue refuses the events at once.
func (s *Sink) Emit(ctx context.Context, events ...audit.Event) error {
	rows, err := encodeEvents(events, s.opts.Cluster)
	if err != nil {
		return err
	}
	_, err = s.enqueue(ctx, rows, false)
	return err
}

// EmitDurable queues events and returns once they are committed. While
// the database is away it fails at once without queueing them. With no
// events it waits for everything queued before it.
func (s *Sink) EmitDurable(ctx context.Context, events ...audit.Event) error {
	rows, err := encodeEvents(events, s.opts.Cluster)
	if err != nil {
		return err
	}
	return s.wait(ctx, rows)
}

// EmitJSON queues events already encoded as JSON objects, as protocol
// plugins send them; durable waits for their commit as EmitDurable does.
func (s *Sink) EmitJSON(ctx context.Context, durable bool, objects [][]byte) error {
	rows, err := jsonRows(objects)
	if err != nil {
		return err
	}
	if !durable {
		_, err = s.enqueue(ctx, rows, false)
		return err
	}
	return s.wait(ctx, rows)
}

// wait queues rows as one durable group and waits for its commit.
func (s *Sink) wait(ctx context.Context, rows []row) error {
	g, err := s.enqueue(ctx, rows, true)
	if err != nil {
		return err
	}
	select {
	case err := <-g.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit postgres: waiting for the commit: %w", ctx.Err())
	}
}

// Healthy returns nil while the database can be reached, else why not.
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
		Written: s.written.Load(), QueueDepth: depth, Batches: s.batches.Load(),
		Failures: s.failures.Load(), Refused: s.refused.Load(),
	}
}

// Table returns the table the sink writes.
func (s *Sink) Table() string { return s.opts.Table }

// Close stops accepting events, tries for up to Options.CloseTimeout to
// write what is queued, and closes the connection. It reports the events
// it could not write.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.notifyLocked()
		s.mu.Unlock()
		close(s.closing)
	})
	<-s.done
	return s.closeErr
}

// enqueue appends rows to the queue, as one durable group when durable
// (even with no rows: a barrier).
func (s *Sink) enqueue(ctx context.Context, rows []row, durable bool) (*group, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var g *group
	if durable {
		g = &group{done: make(chan error, 1)}
	}
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return nil, ErrClosed
		case durable && s.err != nil:
			err := s.err
			s.mu.Unlock()
			return nil, fmt.Errorf("audit log unavailable: %w", err)
		case s.depth == 0 || s.depth+len(rows) <= s.opts.QueueSize:
			s.appendLocked(rows, g)
			s.mu.Unlock()
			select {
			case s.wake <- struct{}{}:
			default:
			}
			return g, nil
		case s.err != nil:
			// Waiting for room would wait for the database.
			depth, err := s.depth, s.err
			s.mu.Unlock()
			s.refused.Add(int64(len(rows)))
			return nil, fmt.Errorf("audit log unavailable and its queue is full (%d events waiting): %w", depth, err)
		}
		changed, depth := s.changed, s.depth
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("audit log queue full (%d events waiting for the database): %w", depth, ctx.Err())
		}
	}
}

func (s *Sink) appendLocked(rows []row, g *group) {
	for i, r := range rows {
		s.queue = append(s.queue, item{row: r, group: g, last: g != nil && i == len(rows)-1})
	}
	if g != nil && len(rows) == 0 {
		s.queue = append(s.queue, item{barrier: true, group: g, last: true})
	}
	s.depth += len(rows)
}

// notifyLocked wakes emitters waiting for room or for a change of health.
func (s *Sink) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// peek copies up to n rows from the head of the queue, with the number
// of queue items they span.
func (s *Sink) peek(n int) (rows []row, items int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.queue {
		if !it.barrier {
			if len(rows) == n {
				break
			}
			rows = append(rows, it.row)
		}
		items++
	}
	return rows, items
}

// committed removes the first items after their rows were committed and
// answers the groups they complete.
func (s *Sink) committed(items, rows int) {
	s.mu.Lock()
	for _, it := range s.queue[:items] {
		if it.last {
			it.group.done <- nil
		}
	}
	s.queue = append(s.queue[:0:0], s.queue[items:]...)
	s.depth -= rows
	recovered := s.err != nil
	s.err = nil
	s.notifyLocked()
	s.mu.Unlock()
	if rows > 0 {
		s.written.Add(int64(rows))
		s.batches.Add(1)
	}
	if recovered {
		s.opts.Logger.Info("the audit database is available again; writing the queued events", "table", s.opts.Table)
	}
}

// setHealth records whether the database can be reached. When it cannot,
// every durable group still queued is answered with the error and
// removed: its emitter refuses the session rather than wait, and no
// record of a session that never started is written later.
func (s *Sink) setHealth(err error) {
	s.mu.Lock()
	was := s.err
	s.err = err
	if err != nil {
		kept := s.queue[:0:0]
		for _, it := range s.queue {
			if it.group == nil {
				kept = append(kept, it)
				continue
			}
			if !it.barrier {
				s.depth--
			}
			if it.last {
				it.group.done <- fmt.Errorf("audit log unavailable: %w", err)
			}
		}
		s.queue = kept
	}
	depth := s.depth
	if (was == nil) != (err == nil) {
		s.notifyLocked()
	}
	s.mu.Unlock()
	switch {
	case err != nil && was == nil:
		s.opts.Logger.Error("the audit database is unavailable; events wait in the queue and sessions that need a durable record are refused unless on_failure = allow",
			"table", s.opts.Table, "queued", depth, "error", err)
	case err == nil && was != nil:
		s.opts.Logger.Info("the audit database is available again", "table", s.opts.Table)
	}
}
