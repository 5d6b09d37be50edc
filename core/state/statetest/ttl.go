package statetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/state"
)

// ttl is the lifetime of the expiring key. Backends may round it up (etcd
// to its minimum lease TTL, about 2 s), hence expiryWait.
const (
	ttl        = time.Second
	expiryWait = ttl + 15*time.Second
)

func testTTL(t *testing.T, b state.Backend) {
	ctx := t.Context()
	events := watch(t, b, ctx, "ttl/")
	before := time.Now()
	rev := put(t, b, "ttl/short", "v", state.PutOptions{TTL: ttl})
	put(t, b, "ttl/stays", "v", state.PutOptions{})

	kv := get(t, b, "ttl/short")
	if kv.Expires.IsZero() || kv.Expires.Before(before) || kv.Expires.After(before.Add(ttl+5*time.Second)) {
		t.Errorf("Expires = %v, want about %v", kv.Expires, before.Add(ttl))
	}
	if ev := expect(t, events, state.EventPut, "ttl/short"); ev.KV.Revision != rev {
		t.Errorf("put event revision %d, want %d", ev.KV.Revision, rev)
	}
	expect(t, events, state.EventPut, "ttl/stays")

	eventually(t, expiryWait, "Get of the expired key failing with ErrNotFound", func() bool {
		_, err := b.Get(ctx, "ttl/short")
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
		return err != nil
	})
	if got := keys(list(t, b, "ttl/")); !slices.Equal(got, []string{"ttl/stays"}) {
		t.Errorf("List after expiry = %q, want [ttl/stays]", got)
	}
	ev := expect(t, events, state.EventDelete, "ttl/short")
	if ev.KV.Revision <= rev {
		t.Errorf("expiry event revision %d not above the put's %d", ev.KV.Revision, rev)
	}
	// An expired key is absent: it can be created again.
	put(t, b, "ttl/short", "new", state.PutOptions{IfAbsent: true})
	if kv := get(t, b, "ttl/stays"); !kv.Expires.IsZero() {
		t.Errorf("key without TTL expires at %v", kv.Expires)
	}
}
