package auditring

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Pauses of a writer that finds the ring full: the reader is behind (the
// audit log is slow or refusing), which is rare and lasts, so polling
// costs nothing that matters.
const (
	fullPause    = 50 * time.Microsecond
	fullPauseMax = 5 * time.Millisecond
)

// Writer is the plugin's end of the ring. Its methods are not safe for
// concurrent use: the plugin's audit pipe serialises them.
type Writer struct {
	r    ring
	bell io.Writer
	tail uint64
}

// Open maps the ring in f, announces it on the audit pipe bell and
// returns its writer.
func Open(f *os.File, bell io.Writer) (*Writer, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit ring: %w", err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ|unix.PROT_WRITE, mapFlags)
	if err != nil {
		return nil, fmt.Errorf("mapping the audit ring: %w", err)
	}
	r, err := newRing(mem)
	if err != nil {
		_ = unix.Munmap(mem)
		return nil, err
	}
	if _, err := bell.Write(Hello[:]); err != nil {
		_ = unix.Munmap(mem)
		return nil, fmt.Errorf("announcing the audit ring: %w", err)
	}
	return &Writer{r: r, bell: bell, tail: atomic.LoadUint64(r.tail())}, nil
}

// Write copies p into the ring and publishes it: when Write returns nil,
// p is in memory the reader maps. A p larger than the free room is
// published in parts as the reader makes room, waiting until ctx ends.
func (w *Writer) Write(ctx context.Context, p []byte) error {
	pause := fullPause
	for len(p) > 0 {
		used := w.tail - atomic.LoadUint64(w.r.head())
		free := w.r.capacity() - min(used, w.r.capacity())
		if free == 0 {
			if err := w.ring(); err != nil {
				return err
			}
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("the audit ring is full: %w", ctx.Err())
			}
			pause = min(pause*2, fullPauseMax)
			continue
		}
		pause = fullPause
		n := min(uint64(len(p)), free)
		at := w.tail & w.r.mask
		c := copy(w.r.data[at:], p[:n])
		copy(w.r.data, p[c:n])
		w.tail += n
		atomic.StoreUint64(w.r.tail(), w.tail)
		p = p[n:]
	}
	return w.ring()
}

// ring wakes the reader if it sleeps. The reader sets its flag before it
// looks at the tail a last time, and the writer looks at the flag after
// storing the tail, so one of the two sees the other.
func (w *Writer) ring() error {
	s := w.r.sleeping()
	if atomic.LoadUint32(s) == 0 || !atomic.CompareAndSwapUint32(s, 1, 0) {
		return nil
	}
	if _, err := w.bell.Write([]byte{1}); err != nil {
		return fmt.Errorf("waking the audit ring's reader: %w", err)
	}
	return nil
}
