package statetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/state"
)

func testWatchPrefix(t *testing.T, b state.Backend) {
	ctx := t.Context()
	put(t, b, "w/before", "v", state.PutOptions{})
	events := watch(t, b, ctx, "w/")

	ra := put(t, b, "w/a", "va", state.PutOptions{})
	put(t, b, "x/b", "v", state.PutOptions{})
	put(t, b, "wx", "v", state.PutOptions{})
	rb := put(t, b, "w/b", "vb", state.PutOptions{})
	wantErr(t, "Delete(w/a)", b.Delete(ctx, "w/a", 0), nil)
	wantErr(t, "Delete(x/b)", b.Delete(ctx, "x/b", 0), nil)
	rc := put(t, b, "w/c", "vc", state.PutOptions{})

	// Events come in revision order, so the ones outside the prefix would
	// have shown up between these.
	want := []struct {
		typ   state.EventType
		key   string
		value string
		rev   int64
	}{
		{state.EventPut, "w/a", "va", ra},
		{state.EventPut, "w/b", "vb", rb},
		{state.EventDelete, "w/a", "", 0},
		{state.EventPut, "w/c", "vc", rc},
	}
	last := int64(0)
	for _, w := range want {
		ev := expect(t, events, w.typ, w.key)
		if string(ev.KV.Value) != w.value || w.rev != 0 && ev.KV.Revision != w.rev {
			t.Errorf("%s %q: value %q rev %d, want %q rev %d", w.typ, w.key, ev.KV.Value, ev.KV.Revision, w.value, w.rev)
		}
		if ev.KV.Revision <= last {
			t.Errorf("%s %q: revision %d not above the previous event's %d", w.typ, w.key, ev.KV.Revision, last)
		}
		last = ev.KV.Revision
	}
}

func testWatchCancel(t *testing.T, b state.Backend) {
	ctx, cancel := context.WithCancel(t.Context())
	events := watch(t, b, ctx, "c/")
	put(t, b, "c/1", "v", state.PutOptions{})
	expect(t, events, state.EventPut, "c/1")
	cancel()
	deadline := time.After(eventWait)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				// The backend still works after a watch ended.
				put(t, b, "c/2", "v", state.PutOptions{})
				return
			}
			if ev.Type == state.EventLost {
				t.Fatalf("EventLost after cancelling: %v", ev.Err)
			}
		case <-deadline:
			t.Fatalf("watch channel still open %s after cancelling", eventWait)
		}
	}
}

func testCloseEndsWatches(t *testing.T, b state.Backend) {
	events := watch(t, b, t.Context(), "")
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ev := next(t, events, eventWait)
	if ev.Type != state.EventLost || ev.Err == nil {
		t.Fatalf("event %s (err %v) after Close, want EventLost with a reason", ev.Type, ev.Err)
	}
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("event after EventLost")
		}
	case <-time.After(eventWait):
		t.Fatal("channel still open after EventLost")
	}
	if _, err := b.Watch(t.Context(), ""); err == nil {
		t.Error("Watch after Close succeeded")
	}
	if _, err := b.Get(t.Context(), "k"); err == nil || errors.Is(err, state.ErrNotFound) {
		t.Errorf("Get after Close: %v, want an error other than ErrNotFound", err)
	}
}
