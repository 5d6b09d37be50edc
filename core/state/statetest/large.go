package statetest

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/keyway-dev/keyway/core/state"
)

// largeSize is the largest value the suite requires a backend to store.
const largeSize = 1 << 20

func testLargeValue(t *testing.T, b state.Backend) {
	value := make([]byte, largeSize)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(value)
	events := watch(t, b, t.Context(), "big/")

	rev, err := b.Put(t.Context(), "big/v", value, state.PutOptions{})
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", len(value), err)
	}
	if kv := get(t, b, "big/v"); !bytes.Equal(kv.Value, value) || kv.Revision != rev {
		t.Fatalf("Get returned %d bytes rev %d, want the %d bytes put at rev %d", len(kv.Value), kv.Revision, len(value), rev)
	}
	kvs := list(t, b, "big/")
	if len(kvs) != 1 || !bytes.Equal(kvs[0].Value, value) {
		t.Fatalf("List returned %d keys, want the large one", len(kvs))
	}
	if ev := expect(t, events, state.EventPut, "big/v"); !bytes.Equal(ev.KV.Value, value) {
		t.Fatalf("watch event has %d bytes, want %d", len(ev.KV.Value), len(value))
	}
}
