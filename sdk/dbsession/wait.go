package dbsession

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// boundedWait is a context that ends d after something first waits on
// it (calls Done). Queuing an event and waiting for the host are
// immediate while the host keeps up, and then start no timer: a session
// pays for its bound only when it has to wait.
type boundedWait struct {
	d     time.Duration
	once  sync.Once
	begun atomic.Bool
	done  chan struct{}
	t     *time.Timer
	mu    sync.Mutex
	err   error
}

func newBoundedWait(d time.Duration) *boundedWait { return &boundedWait{d: d} }

// Done starts the bound on its first call.
func (w *boundedWait) Done() <-chan struct{} {
	w.once.Do(func() {
		w.begun.Store(true)
		w.done = make(chan struct{})
		w.t = time.AfterFunc(w.d, func() {
			w.mu.Lock()
			w.err = fmt.Errorf("%w: waited %s", context.DeadlineExceeded, w.d)
			w.mu.Unlock()
			close(w.done)
		})
	})
	return w.done
}

// Err is context.DeadlineExceeded (wrapped) once the bound passed.
func (w *boundedWait) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Deadline is unknown until the bound starts, and not reported.
func (w *boundedWait) Deadline() (time.Time, bool) { return time.Time{}, false }

// Value holds no values.
func (w *boundedWait) Value(any) any { return nil }

// started reports whether something waited on the bound.
func (w *boundedWait) started() bool { return w.begun.Load() }

// stop releases the timer, if the bound started.
func (w *boundedWait) stop() {
	w.once.Do(func() {})
	if w.t != nil {
		w.t.Stop()
	}
}
