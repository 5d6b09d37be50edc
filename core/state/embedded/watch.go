package embedded

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/internal/feed"
)

// Watch reports the changes under prefix made after it returns; see
// state.Backend. A watcher with more unread events than the watch buffer
// gets an EventLost.
func (s *Store) Watch(ctx context.Context, prefix string) (<-chan state.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	s.wmu.Lock()
	if s.closed {
		s.wmu.Unlock()
		return nil, fmt.Errorf("watch: %w", errClosed)
	}
	w := s.hub.add(prefix)
	s.wmu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			s.hub.end(w)
		case <-w.gone:
		}
	}()
	return w.feed.C(), nil
}

// hub fans events out to the watchers.
type hub struct {
	mu       sync.Mutex
	buffer   int
	watchers map[*watcher]struct{}
}

type watcher struct {
	prefix string
	feed   *feed.Feed
	gone   chan struct{} // closed when the watcher leaves the hub
}

func newHub(buffer int) *hub {
	return &hub{buffer: buffer, watchers: make(map[*watcher]struct{})}
}

func (h *hub) add(prefix string) *watcher {
	w := &watcher{prefix: prefix, feed: feed.New(h.buffer), gone: make(chan struct{})}
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	return w
}

// end closes w's channel: its context ended.
func (h *hub) end(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.watchers[w]; ok {
		h.drop(w)
		w.feed.End()
	}
}

// publish hands events to every watcher of their keys. A watcher that
// falls behind gets an EventLost and leaves.
func (h *hub) publish(events []state.Event) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		for _, ev := range events {
			if !strings.HasPrefix(ev.KV.Key, w.prefix) {
				continue
			}
			// Each watcher gets its own copy of the value.
			if ev.KV.Value != nil {
				ev.KV.Value = append([]byte{}, ev.KV.Value...)
			}
			if !w.feed.Send(ev) {
				h.drop(w)
				break
			}
		}
	}
}

// loseAll ends every watch with an EventLost carrying err.
func (h *hub) loseAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		h.drop(w)
		w.feed.Lose(err)
	}
}

// drop removes w from the hub; h.mu is held.
func (h *hub) drop(w *watcher) {
	delete(h.watchers, w)
	close(w.gone)
}
