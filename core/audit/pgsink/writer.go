package pgsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// writer owns the sink's connection; only the writer goroutine uses it.
type writer struct {
	s    *Sink
	conn *pgx.Conn

	lastOK  time.Time // last successful write or ping
	backoff time.Duration
	nextTry time.Time
	lastErr error
}

func newWriter(s *Sink) *writer { return &writer{s: s} }

// run is the writer goroutine.
func (s *Sink) run(w *writer) {
	defer close(s.done)
	tick := time.NewTicker(min(s.opts.RetryMin, s.opts.PingInterval))
	defer tick.Stop()
	for {
		select {
		case <-s.wake:
		case <-tick.C:
		case <-s.closing:
			s.closeErr = w.finish()
			return
		}
		w.work(time.Now(), false)
	}
}

// work writes batches while there are events and the database takes
// them. An idle writer pings the database every PingInterval; an
// unavailable one tries again when its backoff has passed, or at once
// when force is set.
func (w *writer) work(now time.Time, force bool) {
	if w.s.Healthy() != nil && now.Before(w.nextTry) && !force {
		return
	}
	for {
		rows, items := w.s.peek(w.s.opts.BatchSize)
		if items == 0 {
			w.idle(now)
			return
		}
		if len(rows) == 0 {
			// Only barriers: everything before them is committed.
			w.s.committed(items, 0)
			continue
		}
		if err := w.write(rows); err != nil {
			w.failed(err)
			return
		}
		w.s.committed(items, len(rows))
		w.succeeded()
	}
}

// idle checks the connection when nothing was written for a while, so
// that a database that went away is noticed before a session needs it.
func (w *writer) idle(now time.Time) {
	unavailable := w.s.Healthy() != nil
	if !unavailable && now.Sub(w.lastOK) < w.s.opts.PingInterval {
		return
	}
	if w.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.ConnectTimeout)
		err := w.conn.Ping(ctx)
		cancel()
		if err == nil {
			w.succeeded()
			w.s.setHealth(nil)
			return
		}
		w.closeConn()
	}
	if err := w.ensureConn(); err != nil {
		w.failed(err)
		return
	}
	w.succeeded()
	w.s.setHealth(nil)
}

// write commits one batch. When the database refuses the batch itself it
// writes the rows one by one, so that one event it cannot store does not
// block the rest. When the connection breaks it tries once more on a new
// one at once, since an idle connection may have been closed by a
// restart of the database.
func (w *writer) write(rows []row) error {
	fresh := w.conn == nil
	if err := w.ensureConn(); err != nil {
		return err
	}
	err := w.insert(rows)
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if err = w.insertEach(rows); err == nil {
			return nil
		}
	}
	w.closeConn()
	if fresh || errors.As(err, &pe) {
		return err
	}
	if err := w.ensureConn(); err != nil {
		return err
	}
	if err = w.insert(rows); err != nil {
		w.closeConn()
	}
	return err
}

// insert writes rows in one transaction.
func (w *writer) insert(rows []row) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.WriteTimeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, w.conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, w.s.insert, args(rows)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("audit postgres: writing %d events to %s: %w", len(rows), w.s.opts.Table, err)
	}
	return nil
}

// insertEach writes rows one at a time. A row whose JSON the database
// refuses as data (SQLSTATE class 22) is written as an unstorable record
// that keeps its bytes in base64, and logged.
func (w *writer) insertEach(rows []row) error {
	for _, r := range rows {
		err := w.insert([]row{r})
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || !strings.HasPrefix(pe.Code, "22") {
			if err != nil {
				return err
			}
			continue
		}
		w.s.opts.Logger.Error("the audit database refused an event's JSON; it is stored base64-encoded in raw_base64",
			"event", r.event, "id", r.id, "error", pe.Message)
		if err := w.insert([]row{unstorable(r, pe.Code+": "+pe.Message)}); err != nil {
			return err
		}
	}
	return nil
}

// ensureConn connects and creates the table when there is no connection.
func (w *writer) ensureConn() error {
	if w.conn != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.ConnectTimeout+w.s.opts.WriteTimeout)
	defer cancel()
	conn, err := connect(ctx, w.s.cfg)
	if err != nil {
		return err
	}
	if err := ensureSchema(ctx, conn, w.s.table); err != nil {
		_ = conn.Close(context.Background())
		return fmt.Errorf("audit postgres: creating table %s: %w", w.s.opts.Table, err)
	}
	w.conn = conn
	return nil
}

func (w *writer) closeConn() {
	if w.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = w.conn.Close(ctx)
		cancel()
		w.conn = nil
	}
}

// failed marks the database unavailable and schedules the next attempt.
func (w *writer) failed(err error) {
	w.s.failures.Add(1)
	w.lastErr = err
	w.backoff = min(max(w.backoff*2, w.s.opts.RetryMin), w.s.opts.RetryMax)
	w.nextTry = time.Now().Add(w.backoff)
	w.s.setHealth(err)
}

func (w *writer) succeeded() {
	w.lastOK, w.backoff, w.lastErr = time.Now(), 0, nil
}

// finish makes the last attempts at the queue, for up to CloseTimeout,
// answers what is left with an error and closes the connection.
func (w *writer) finish() error {
	deadline := time.Now().Add(w.s.opts.CloseTimeout)
	for {
		w.work(time.Now(), true)
		if _, items := w.s.peek(1); items == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(w.s.opts.RetryMin)
	}
	defer w.closeConn()
	left := w.s.Stats().QueueDepth
	if left == 0 {
		return nil
	}
	err := w.lastErr
	if err == nil {
		err = errors.New("no attempt succeeded in time")
	}
	w.s.setHealth(fmt.Errorf("closing: %w", err))
	return fmt.Errorf("audit postgres: %d events not written to %s: %w", left, w.s.opts.Table, err)
}
