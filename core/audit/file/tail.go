package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// pollInterval is how often Tail looks for new events.
const pollInterval = 200 * time.Millisecond

// Tail calls fn with the newest f.Limit events that pass f (none when
// f.Limit is 0), oldest first; then, when follow is set, with each new
// event that passes f as it is appended, until ctx is done or fn fails.
// It polls the file every 200ms and follows it across rotations, reading
// the rotated file to its end before moving to the new one. Following a
// path that does not exist yet waits for it. When following stops
// because ctx is done, Tail returns ctx's error.
func Tail(ctx context.Context, path string, f audit.Filter, follow bool, fn func(audit.Event) error) error {
	path = activePath(path)
	t := &tailer{path: path, filter: f, fn: fn}
	defer t.close()
	if err := t.backlog(); err != nil {
		if !follow || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if !follow {
		return nil
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if err := t.poll(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// tailer follows the active file.
type tailer struct {
	path   string
	filter audit.Filter
	fn     func(audit.Event) error

	fd *os.File // nil until the file exists
	lr *lineReader
	st ScanStats
}

// backlog delivers the last Limit matching events and leaves the active
// file open at its end.
func (t *tailer) backlog() error {
	fds, err := openSnapshot(t.path)
	if err != nil {
		return err
	}
	var active *os.File
	if last := fds[len(fds)-1]; last.Name() == t.path {
		active, fds = last, fds[:len(fds)-1]
	}
	defer closeAll(fds)
	if t.filter.Limit <= 0 {
		if active != nil {
			if _, err := active.Seek(0, io.SeekEnd); err != nil {
				_ = active.Close()
				return fmt.Errorf("audit file: %w", err)
			}
			t.fd, t.lr = active, newLineReader(active)
		}
		return nil
	}
	r := newRing(t.filter.Limit)
	add := func(e audit.Event) error { r.add(e); return nil }
	for _, fd := range fds {
		if err := scanLines(newLineReader(fd), t.filter, &t.st, add); err != nil {
			return err
		}
	}
	if active != nil {
		t.fd, t.lr = active, newLineReader(active)
		if err := scanLines(t.lr, t.filter, &t.st, add); err != nil {
			return err
		}
	}
	for _, e := range r.events() {
		if err := t.fn(e); err != nil {
			return err
		}
	}
	return nil
}

// poll delivers what was appended since the last poll, moving on to the
// files that follow the one being read after rotations.
func (t *tailer) poll() error {
	if t.fd == nil {
		fd, err := os.Open(t.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit file: %w", err)
		}
		t.fd, t.lr = fd, newLineReader(fd)
	}
	if err := scanLines(t.lr, t.filter, &t.st, t.fn); err != nil {
		return err
	}
	named, err := os.Stat(t.path)
	if err != nil {
		return nil // between a rotation's rename and the new file
	}
	cur, err := t.fd.Stat()
	if err != nil {
		return fmt.Errorf("audit file: %w", err)
	}
	if !os.SameFile(cur, named) {
		return t.advance(cur)
	}
	if pos, err := t.fd.Seek(0, io.SeekCurrent); err == nil && named.Size() < pos {
		// Truncated: start again from the top.
		if _, err := t.fd.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("audit file: %w", err)
		}
		t.lr.reset(t.fd)
	}
	return nil
}

// advance follows rotations: the file being read was renamed, and was
// complete when it was. It reads the files written after it, oldest
// first, and goes on following the newest. When the file was deleted
// already, it reads all the files that remain.
func (t *tailer) advance(cur os.FileInfo) error {
	fds, err := openSnapshot(t.path)
	if err != nil {
		return nil // rotating now: the next poll tries again
	}
	next := 0
	for i, fd := range fds {
		if st, err := fd.Stat(); err == nil && os.SameFile(st, cur) {
			next = i + 1
		}
	}
	last := len(fds) - 1
	if next > last {
		closeAll(fds)
		return nil // it is still the newest file
	}
	closeAll(fds[:next])
	_ = t.fd.Close()
	t.fd = nil
	for _, fd := range fds[next:last] {
		if err := scanLines(newLineReader(fd), t.filter, &t.st, t.fn); err != nil {
			closeAll(fds[next:])
			return err
		}
		_ = fd.Close()
	}
	t.fd = fds[last]
	t.lr.reset(t.fd)
	return scanLines(t.lr, t.filter, &t.st, t.fn)
}

func (t *tailer) close() {
	if t.fd != nil {
		_ = t.fd.Close()
		t.fd = nil
	}
}
