package file

import (
	"fmt"
	"os"
	"time"
)

// maxWrite bounds the bytes given to one write call.
const maxWrite = 1 << 20

// writer owns the active file; only the sink's writer goroutine uses it.
type writer struct {
	opts  Options
	stats *counters

	f     *os.File
	size  int64
	dirty bool // written since the last sync

	lines   [][]byte // accepted but not yet written
	buf     []byte
	err     error // last failure; nil while healthy
	lastTry time.Time
}

// process writes a batch taken from the queue and answers its sync
// requests.
func (w *writer) process(items []item) {
	if len(items) == 0 {
		return
	}
	var waiters []chan error
	for _, it := range items {
		if it.done != nil {
			waiters = append(waiters, it.done)
			continue
		}
		w.lines = append(w.lines, it.line)
	}
	err := w.flush()
	if err == nil && (len(waiters) > 0 || w.opts.Fsync == FsyncAlways) {
		err = w.sync()
	}
	for _, c := range waiters {
		c <- err
	}
}

// tick runs periodically: it retries an unavailable file, syncs under the
// interval policy, and reopens the path when the file was moved away.
func (w *writer) tick(now time.Time) {
	if w.err != nil {
		if now.Sub(w.lastTry) >= w.opts.retryEvery {
			_ = w.flush()
		}
		return
	}
	if w.dirty && w.opts.Fsync == FsyncInterval {
		_ = w.sync()
	}
	if w.err == nil && w.moved() {
		_ = w.sync()
		w.closeFile()
		_ = w.flush()
	}
}

// flush opens the file when needed and writes the pending lines. It
// records the outcome in w.err.
func (w *writer) flush() error {
	w.lastTry = time.Now()
	if err := w.write(); err != nil {
		w.fail(err)
		return err
	}
	w.err = nil
	return nil
}

func (w *writer) write() error {
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	for len(w.lines) > 0 {
		if w.size > 0 && w.size+int64(len(w.lines[0])) > w.opts.MaxSizeBytes {
			if err := w.rotate(); err != nil {
				return err
			}
		}
		n := w.fill()
		if w.opts.beforeWrite != nil {
			w.opts.beforeWrite(w.f)
		}
		m, err := w.f.Write(w.buf)
		w.size += int64(m)
		if m > 0 {
			w.dirty = true
		}
		w.written(m, n)
		if err != nil {
			return fmt.Errorf("audit file: writing %s: %w", w.opts.Path, err)
		}
	}
	w.lines = nil
	return nil
}

// fill copies into w.buf the first lines that fit in the file and in one
// write, at least one, and returns how many.
func (w *writer) fill() int {
	w.buf = w.buf[:0]
	n := 0
	for ; n < len(w.lines); n++ {
		l := w.lines[n]
		if n > 0 && (len(w.buf)+len(l) > maxWrite || w.size+int64(len(w.buf)+len(l)) > w.opts.MaxSizeBytes) {
			break
		}
		w.buf = append(w.buf, l...)
	}
	return n
}

// written drops the lines completed by a write of m bytes of the first n
// lines. A line cut short stays pending; fail closes the file, and open
// terminates the torn line before it is written again.
func (w *writer) written(m, n int) {
	done, end := 0, 0
	for done < n && end+len(w.lines[done]) <= m {
		end += len(w.lines[done])
		done++
	}
	w.lines = w.lines[done:]
	w.stats.written.Add(int64(done))
	w.stats.bytes.Add(int64(m))
}

// sync flushes written data to stable storage.
func (w *writer) sync() error {
	if w.f == nil || !w.dirty {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		err = fmt.Errorf("audit file: syncing %s: %w", w.opts.Path, err)
		w.fail(err)
		return err
	}
	w.dirty = false
	w.stats.syncs.Add(1)
	return nil
}

// fail marks the sink unavailable and drops the file handle, so that the
// next attempt reopens the path.
func (w *writer) fail(err error) {
	w.err = err
	w.closeFile()
}

func (w *writer) closeFile() {
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
}

// moved reports whether the path no longer names the open file.
func (w *writer) moved() bool {
	if w.f == nil {
		return false
	}
	cur, err1 := w.f.Stat()
	named, err2 := os.Stat(w.opts.Path)
	return err1 == nil && (err2 != nil || !os.SameFile(cur, named))
}

// shutdown makes a last attempt at pending lines, syncs and closes.
func (w *writer) shutdown() error {
	var err error
	if len(w.lines) > 0 {
		err = w.flush()
	}
	if err == nil {
		err = w.sync()
	}
	if len(w.lines) > 0 {
		err = fmt.Errorf("audit file: %d events not written: %w", len(w.lines), err)
	}
	if w.f != nil {
		if cerr := w.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("audit file: closing %s: %w", w.opts.Path, cerr)
		}
		w.f = nil
	}
	return err
}
