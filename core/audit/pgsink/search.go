package pgsink

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyway-dev/keyway/core/audit"
)

// pollInterval is how often Tail looks for new events.
const pollInterval = 200 * time.Millisecond

// tailBatch bounds the events one poll of Tail reads.
const tailBatch = 1000

// Reader searches and follows the events table over a connection of its
// own. It does not create the table.
type Reader struct {
	opts  Options
	cfg   *pgx.ConnConfig
	table table
	conn  *pgx.Conn
}

// OpenReader connects to the database of o.
func OpenReader(ctx context.Context, o Options) (*Reader, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg, err := connConfig(o)
	if err != nil {
		return nil, err
	}
	conn, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Reader{opts: o, cfg: cfg, table: newTable(o.Table), conn: conn}, nil
}

// Close closes the connection.
func (r *Reader) Close() {
	if r.conn != nil {
		_ = r.conn.Close(context.Background())
	}
}

// where renders f as SQL conditions on the indexed columns, with their
// arguments; seq bounds, when set, limit the rows to (after, upTo].
func where(f audit.Filter, after, upTo int64) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Type != "" {
		add("event = ?", f.Type)
	}
	if f.User != "" {
		add("username = ?", f.User)
	}
	if f.DB != "" {
		add("db = ?", f.DB)
	}
	if !f.Since.IsZero() {
		add("time >= ?", f.Since)
	}
	if after > 0 {
		add("seq > ?", after)
	}
	if upTo > 0 {
		add("seq <= ?", upTo)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Scan calls fn for each event that passes f, oldest first, ignoring
// f.Limit. An error from fn stops the scan and is returned.
func (r *Reader) Scan(ctx context.Context, f audit.Filter, fn func(audit.Event) error) error {
	cond, args := where(f, 0, 0)
	return r.each(ctx, "SELECT seq, body FROM "+r.table.sql+cond+" ORDER BY time, seq", args, func(_ int64, e audit.Event) error { return fn(e) })
}

// Search returns the events that pass f, oldest first; with f.Limit > 0,
// the newest f.Limit of them.
func (r *Reader) Search(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	cond, args := where(f, 0, 0)
	q := "SELECT seq, body FROM " + r.table.sql + cond + " ORDER BY time, seq"
	if f.Limit > 0 {
		q = "SELECT seq, body FROM " + r.table.sql + cond + " ORDER BY time DESC, seq DESC LIMIT " + strconv.Itoa(f.Limit)
	}
	var out []audit.Event
	err := r.each(ctx, q, args, func(_ int64, e audit.Event) error { out = append(out, e); return nil })
	if err != nil {
		return nil, err
	}
	if f.Limit > 0 {
		slices.Reverse(out)
	}
	return out, nil
}

// Tail calls fn with the newest f.Limit events that pass f (none when
// f.Limit is 0), oldest first; then, when follow is set, with each new
// event that passes f in the order it was inserted, polling every 200ms,
// until ctx is done (and Tail returns its error) or fn fails. While the
// database cannot be reached it keeps trying.
func (r *Reader) Tail(ctx context.Context, f audit.Filter, follow bool, fn func(audit.Event) error) error {
	var last int64
	if err := r.conn.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM "+r.table.sql).Scan(&last); err != nil {
		return fmt.Errorf("audit postgres: reading %s: %w", r.opts.Table, err)
	}
	if f.Limit > 0 && last > 0 {
		cond, args := where(f, 0, last)
		var backlog []audit.Event
		q := "SELECT seq, body FROM " + r.table.sql + cond + " ORDER BY seq DESC LIMIT " + strconv.Itoa(f.Limit)
		if err := r.each(ctx, q, args, func(_ int64, e audit.Event) error { backlog = append(backlog, e); return nil }); err != nil {
			return err
		}
		slices.Reverse(backlog)
		for _, e := range backlog {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	if !follow {
		return nil
	}
	f.Since = time.Time{} // new events are new whatever their time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
		next, err := r.poll(ctx, f, last, fn)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if _, stop := err.(fnError); stop {
				return err.(fnError).err
			}
			r.reconnect(ctx)
			continue
		}
		last = next
	}
}

// fnError carries an error from Tail's callback, which stops Tail.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// poll passes the events inserted after seq last to fn and returns the
// last seq it read.
func (r *Reader) poll(ctx context.Context, f audit.Filter, last int64, fn func(audit.Event) error) (int64, error) {
	if r.conn == nil {
		return last, fmt.Errorf("audit postgres: not connected")
	}
	var upTo int64
	if err := r.conn.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM "+r.table.sql+" WHERE seq > $1", last).Scan(&upTo); err != nil {
		return last, err
	}
	if upTo == 0 {
		return last, nil
	}
	upTo = min(upTo, last+tailBatch)
	cond, args := where(f, last, upTo)
	err := r.each(ctx, "SELECT seq, body FROM "+r.table.sql+cond+" ORDER BY seq", args, func(_ int64, e audit.Event) error {
		if err := fn(e); err != nil {
			return fnError{err}
		}
		return nil
	})
	if err != nil {
		return last, err
	}
	return upTo, nil
}

// reconnect replaces a broken connection, quietly: Tail keeps trying.
func (r *Reader) reconnect(ctx context.Context) {
	r.Close()
	r.conn = nil
	if conn, err := connect(ctx, r.cfg); err == nil {
		r.conn = conn
	}
}

// each runs q and calls fn with each row's seq and event.
func (r *Reader) each(ctx context.Context, q string, args []any, fn func(int64, audit.Event) error) error {
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("audit postgres: searching %s: %w", r.opts.Table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return fmt.Errorf("audit postgres: reading %s: %w", r.opts.Table, err)
		}
		var e audit.Event
		if err := json.Unmarshal(body, &e); err != nil {
			return fmt.Errorf("audit postgres: event %d of %s: %w", seq, r.opts.Table, err)
		}
		if err := fn(seq, e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit postgres: searching %s: %w", r.opts.Table, err)
	}
	return nil
}

// Searcher searches the table with a connection per call, for a
// long-running process that searches rarely (the admin socket).
type Searcher struct {
	Options Options
}

// Search connects, searches and disconnects.
func (s Searcher) Search(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	r, err := OpenReader(ctx, s.Options)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Search(ctx, f)
}
