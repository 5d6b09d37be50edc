package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/keyway-dev/keyway/core/audit"
)

// ScanStats tell what a scan read.
type ScanStats struct {
	// Files is the number of files read.
	Files int `json:"files"`
	// Events is the number of events decoded, Matched those that passed
	// the filter.
	Events  int `json:"events"`
	Matched int `json:"matched"`
	// Skipped counts lines that could not be read as events: a torn last
	// line, a corrupt or overlong one.
	Skipped int `json:"skipped"`
}

// Scan calls fn for each event that passes f, oldest first, across the
// rotated files of path and path itself (a directory means its
// events.log). It reads line by line, holding one event at a time, and
// ignores f.Limit. Lines that are not events are skipped and counted.
// An error from fn stops the scan and is returned.
func Scan(path string, f audit.Filter, fn func(audit.Event) error) (ScanStats, error) {
	var st ScanStats
	fds, err := openSnapshot(activePath(path))
	if err != nil {
		return st, err
	}
	defer closeAll(fds)
	for _, fd := range fds {
		st.Files++
		lr := newLineReader(fd)
		if err := scanLines(lr, f, &st, fn); err != nil {
			return st, err
		}
		if lr.torn() {
			st.Skipped++
		}
		st.Skipped += lr.long
	}
	return st, nil
}

// Search returns the events that pass f, oldest first, across the rotated
// files of path and path itself (a directory means its events.log). With
// f.Limit > 0 it returns the newest f.Limit of them, holding no more than
// that many in memory. Lines that are not events, such as a torn last
// line, are skipped; Scan reports how many.
func Search(path string, f audit.Filter) ([]audit.Event, error) {
	r := newRing(f.Limit)
	if _, err := Scan(path, f, func(e audit.Event) error { r.add(e); return nil }); err != nil {
		return nil, err
	}
	return r.events(), nil
}

// Searcher searches the files of one sink, for audit.Searcher.
type Searcher struct {
	// Path is the active file (or its directory).
	Path string
}

// Search is Search on s.Path.
func (s Searcher) Search(_ context.Context, f audit.Filter) ([]audit.Event, error) {
	return Search(s.Path, f)
}

// scanLines decodes the complete lines lr has, calling fn for those that
// pass f.
func scanLines(lr *lineReader, f audit.Filter, st *ScanStats, fn func(audit.Event) error) error {
	for {
		line, err := lr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit file: reading: %w", err)
		}
		if len(line) == 0 {
			continue
		}
		var e audit.Event
		if json.Unmarshal(line, &e) != nil {
			st.Skipped++
			continue
		}
		st.Events++
		if !f.Match(e) {
			continue
		}
		st.Matched++
		if err := fn(e); err != nil {
			return err
		}
	}
}

// openSnapshot opens the rotated files and the active file together, so
// that a rotation while they are read neither hides nor repeats events.
// When a rotation happens while they are being opened, it starts again.
func openSnapshot(path string) ([]*os.File, error) {
	var lastErr error
	for range 5 {
		before, statErr := os.Stat(path)
		names, err := files(path)
		if err != nil {
			return nil, err
		}
		fds, err := openAll(names)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				lastErr = err
				continue
			}
			return nil, err
		}
		if statErr != nil || names[len(names)-1] != path {
			return fds, nil // no active file: nothing rotates
		}
		cur, err := fds[len(fds)-1].Stat()
		if err == nil && os.SameFile(before, cur) {
			return fds, nil
		}
		closeAll(fds)
		lastErr = fmt.Errorf("audit file: %s rotated while opening it", path)
	}
	return nil, lastErr
}

func openAll(names []string) ([]*os.File, error) {
	fds := make([]*os.File, 0, len(names))
	for _, n := range names {
		fd, err := os.Open(n)
		if err != nil {
			closeAll(fds)
			return nil, fmt.Errorf("audit file: %w", err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func closeAll(fds []*os.File) {
	for _, fd := range fds {
		_ = fd.Close()
	}
}

// ring keeps the last n events added, or all of them when n <= 0.
type ring struct {
	n    int
	buf  []audit.Event
	next int
}

func newRing(n int) *ring { return &ring{n: n} }

func (r *ring) add(e audit.Event) {
	if r.n <= 0 || len(r.buf) < r.n {
		r.buf = append(r.buf, e)
		return
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % r.n
}

// events returns the kept events, oldest first.
func (r *ring) events() []audit.Event {
	out := make([]audit.Event, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}
