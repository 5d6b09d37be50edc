package file

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

func TestTailBacklog(t *testing.T) {
	line := len(mustLine(t, query(10)))
	s := open(t, Options{MaxSizeBytes: int64(3 * line)})
	if err := s.EmitDurable(context.Background(), eventsFrom(10, 20)...); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		limit    int
		from, to int
	}{
		{0, 0, -1},
		{1, 19, 19},
		{5, 15, 19}, // across rotated files
		{100, 10, 19},
	}
	for _, tt := range tests {
		var got []audit.Event
		err := Tail(context.Background(), s.Path(), audit.Filter{Limit: tt.limit}, false, func(e audit.Event) error {
			got = append(got, e)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if tt.to < tt.from {
			if len(got) != 0 {
				t.Fatalf("limit %d: %d events", tt.limit, len(got))
			}
			continue
		}
		checkIndexes(t, got, tt.from, tt.to)
	}
}

func eventsFrom(from, to int) []audit.Event {
	var out []audit.Event
	for i := from; i < to; i++ {
		out = append(out, query(i))
	}
	return out
}

func TestTailFollowsAppendsAndRotation(t *testing.T) {
	line := len(mustLine(t, query(10)))
	path := filepath.Join(t.TempDir(), "audit", DefaultFileName)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan audit.Event, 100)
	done := make(chan error, 1)
	// Following starts before the file exists.
	go func() {
		done <- Tail(ctx, path, audit.Filter{Type: audit.SessionQuery}, true, func(e audit.Event) error {
			got <- e
			return nil
		})
	}()
	time.Sleep(50 * time.Millisecond)
	s := open(t, Options{Path: path, MaxSizeBytes: int64(4 * line), MaxFiles: 50})
	emit := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := s.EmitDurable(ctx, query(i), audit.Event{Event: audit.AuthLogin}); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			select {
			case e := <-got:
				if e.Index != int64(i) || e.Event != audit.SessionQuery {
					t.Fatalf("got %s %d, want query %d", e.Event, e.Index, i)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no event %d", i)
			}
		}
	}
	emit(10, 12)
	expect(10, 12)
	emit(12, 13) // appended to the same file
	expect(12, 13)
	emit(13, 30) // several rotations, some between two polls
	expect(13, 30)
	if s.Stats().Rotations < 3 {
		t.Fatalf("stats %+v: expected rotations", s.Stats())
	}
	select {
	case e := <-got:
		t.Fatalf("unexpected event %+v", e)
	case <-time.After(3 * pollInterval):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Tail returned %v", err)
	}
}

func TestTailStopsOnCallbackError(t *testing.T) {
	s := open(t, Options{})
	if err := s.EmitDurable(context.Background(), eventsFrom(10, 12)...); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	err := Tail(context.Background(), s.Path(), audit.Filter{Limit: 5}, true, func(audit.Event) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("Tail returned %v", err)
	}
}
