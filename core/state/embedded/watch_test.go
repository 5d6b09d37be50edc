package embedded

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/internal/feed"
)

func TestSlowWatcherGetsLost(t *testing.T) {
	const buffer = 4
	s := open(t, filepath.Join(t.TempDir(), "state.db"), WithWatchBuffer(buffer))
	slow, err := s.Watch(t.Context(), "k/")
	if err != nil {
		t.Fatal(err)
	}
	fast, err := s.Watch(t.Context(), "k/")
	if err != nil {
		t.Fatal(err)
	}

	// The slow watcher reads nothing; writers must not block on it, and a
	// watcher that keeps up must not suffer.
	const writes = 3 * buffer
	for i := range writes {
		if _, err := s.Put(t.Context(), "k/"+strconv.Itoa(i), []byte("v"), state.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if ev := <-fast; ev.Type != state.EventPut {
			t.Fatalf("fast watcher got %s: %v", ev.Type, ev.Err)
		}
	}

	var got []state.Event
	for ev := range slow {
		got = append(got, ev)
	}
	if len(got) != buffer+1 {
		t.Fatalf("slow watcher got %d events, want %d then EventLost", len(got), buffer)
	}
	for i, ev := range got[:buffer] {
		if ev.Type != state.EventPut || ev.KV.Key != "k/"+strconv.Itoa(i) {
			t.Errorf("event %d = %s %q, want put k/%d", i, ev.Type, ev.KV.Key, i)
		}
	}
	if lost := got[buffer]; lost.Type != state.EventLost || !errors.Is(lost.Err, feed.ErrBehind) {
		t.Fatalf("last event %s (%v), want EventLost for falling behind", lost.Type, lost.Err)
	}
}
