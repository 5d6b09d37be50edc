package statetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/state"
)

// eventWait bounds the wait for a watch event that should come at once.
const eventWait = 10 * time.Second

func put(t *testing.T, b state.Backend, key, value string, opts state.PutOptions) int64 {
	t.Helper()
	rev, err := b.Put(t.Context(), key, []byte(value), opts)
	if err != nil {
		t.Fatalf("Put(%q, %+v): %v", key, opts, err)
	}
	return rev
}

func get(t *testing.T, b state.Backend, key string) state.KV {
	t.Helper()
	kv, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return kv
}

func list(t *testing.T, b state.Backend, prefix string) []state.KV {
	t.Helper()
	kvs, err := b.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return kvs
}

func watch(t *testing.T, b state.Backend, ctx context.Context, prefix string) <-chan state.Event {
	t.Helper()
	ch, err := b.Watch(ctx, prefix)
	if err != nil {
		t.Fatalf("Watch(%q): %v", prefix, err)
	}
	return ch
}

// wantErr fails unless err matches want (nil for none).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// keys lists the keys of kvs.
func keys(kvs []state.KV) []string {
	ks := []string{}
	for _, kv := range kvs {
		ks = append(ks, kv.Key)
	}
	return ks
}

// next returns the next event of ch, failing when none comes within wait
// or the channel closes.
func next(t *testing.T, ch <-chan state.Event, wait time.Duration) state.Event {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed early")
		}
		return ev
	case <-timer.C:
		t.Fatalf("no watch event within %s", wait)
	}
	return state.Event{}
}

// expect returns the next event, failing unless it is of type typ for key.
func expect(t *testing.T, ch <-chan state.Event, typ state.EventType, key string) state.Event {
	t.Helper()
	ev := next(t, ch, eventWait)
	if ev.Type != typ || ev.KV.Key != key {
		t.Fatalf("event %s %q (err %v), want %s %q", ev.Type, ev.KV.Key, ev.Err, typ, key)
	}
	return ev
}

// eventually polls cond every 20 ms until it holds, failing after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
