// Package feed hands watch events to one watcher through a bounded buffer
// that never blocks the producer. When the watcher falls behind and the
// buffer fills up, the feed ends with a state.EventLost event instead of
// dropping events silently.
package feed

import (
	"errors"
	"fmt"

	"github.com/keyway-dev/keyway/core/state"
)

// ErrBehind is the reason of the EventLost sent to a watcher whose buffer
// filled up.
var ErrBehind = errors.New("watcher fell behind")

// Feed is one watcher's channel. It is not safe for concurrent use: the
// owner serialises Send, Lose and End (one producer goroutine, or a lock).
type Feed struct {
	ch    chan state.Event
	limit int
	ended bool
}

// New returns a feed that buffers up to limit unread events (at least 1).
func New(limit int) *Feed {
	if limit < 1 {
		limit = 1
	}
	// One slot more than the limit, kept for the final EventLost, so that
	// it can always be sent without blocking.
	return &Feed{ch: make(chan state.Event, limit+1), limit: limit}
}

// C is the channel the watcher reads.
func (f *Feed) C() <-chan state.Event { return f.ch }

// Send queues ev. When the buffer is full it ends the feed with an
// EventLost instead. It reports whether the feed is still open.
func (f *Feed) Send(ev state.Event) bool {
	if f.ended {
		return false
	}
	// Only this producer adds to the channel, so its length cannot grow
	// between the check and the send.
	if len(f.ch) >= f.limit {
		f.Lose(fmt.Errorf("%w: %d events unread", ErrBehind, f.limit))
		return false
	}
	f.ch <- ev
	return true
}

// Lose ends the feed with an EventLost carrying err.
func (f *Feed) Lose(err error) {
	if f.ended {
		return
	}
	f.ended = true
	f.ch <- state.Event{Type: state.EventLost, Err: err}
	close(f.ch)
}

// End closes the feed without an EventLost: the watcher asked to stop.
func (f *Feed) End() {
	if f.ended {
		return
	}
	f.ended = true
	close(f.ch)
}

// Ended reports whether the feed is closed.
func (f *Feed) Ended() bool { return f.ended }
