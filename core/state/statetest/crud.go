package statetest

import (
	"context"
	"slices"
	"testing"

	"github.com/keyway-dev/keyway/core/state"
)

func testCRUD(t *testing.T, b state.Backend) {
	revs := map[string]int64{}
	for _, k := range []string{"b/2", "a", "b/1", "c", "bx"} {
		revs[k] = put(t, b, k, "v-"+k, state.PutOptions{})
	}
	for k, rev := range revs {
		kv := get(t, b, k)
		if kv.Key != k || string(kv.Value) != "v-"+k || kv.Revision != rev || !kv.Expires.IsZero() {
			t.Errorf("Get(%q) = %q %q rev %d expires %v; want %q rev %d, no expiry", k, kv.Key, kv.Value, kv.Revision, kv.Expires, "v-"+k, rev)
		}
	}

	lists := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "b/1", "b/2", "bx", "c"}},
		{"b/", []string{"b/1", "b/2"}},
		{"b", []string{"b/1", "b/2", "bx"}},
		{"a", []string{"a"}},
		{"nothing/", []string{}},
	}
	for _, l := range lists {
		kvs := list(t, b, l.prefix)
		if got := keys(kvs); !slices.Equal(got, l.want) {
			t.Errorf("List(%q) = %q, want %q", l.prefix, got, l.want)
		}
		for _, kv := range kvs {
			if string(kv.Value) != "v-"+kv.Key || kv.Revision != revs[kv.Key] {
				t.Errorf("List(%q): %q = %q rev %d, want %q rev %d", l.prefix, kv.Key, kv.Value, kv.Revision, "v-"+kv.Key, revs[kv.Key])
			}
		}
	}

	put(t, b, "a", "changed", state.PutOptions{})
	if kv := get(t, b, "a"); string(kv.Value) != "changed" {
		t.Errorf("Get after overwrite = %q, want %q", kv.Value, "changed")
	}

	ctx := t.Context()
	wantErr(t, "Delete(b/1)", b.Delete(ctx, "b/1", 0), nil)
	_, err := b.Get(ctx, "b/1")
	wantErr(t, "Get after Delete", err, state.ErrNotFound)
	wantErr(t, "second Delete", b.Delete(ctx, "b/1", 0), state.ErrNotFound)
	_, err = b.Get(ctx, "never")
	wantErr(t, "Get(never)", err, state.ErrNotFound)
	wantErr(t, "Delete(never)", b.Delete(ctx, "never", 0), state.ErrNotFound)
	if got := keys(list(t, b, "b/")); !slices.Equal(got, []string{"b/2"}) {
		t.Errorf("List(b/) after Delete = %q, want [b/2]", got)
	}
}

func testBadArguments(t *testing.T, b state.Backend) {
	ctx := t.Context()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Put empty key", func() error { _, err := b.Put(ctx, "", []byte("v"), state.PutOptions{}); return err }},
		{"Get empty key", func() error { _, err := b.Get(ctx, ""); return err }},
		{"Delete empty key", func() error { return b.Delete(ctx, "", 0) }},
		{"Put IfAbsent with IfRevision", func() error {
			_, err := b.Put(ctx, "k", []byte("v"), state.PutOptions{IfAbsent: true, IfRevision: 1})
			return err
		}},
		{"Put negative TTL", func() error { _, err := b.Put(ctx, "k", []byte("v"), state.PutOptions{TTL: -1}); return err }},
		{"Put cancelled context", func() error { _, err := b.Put(cancelled, "k", []byte("v"), state.PutOptions{}); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if _, err := b.Get(ctx, "k"); err == nil {
		t.Error("a rejected Put stored its key")
	}
}

func testRevisions(t *testing.T, b state.Backend) {
	ctx := t.Context()
	var last int64
	step := func(what string, rev int64) {
		t.Helper()
		if rev <= last {
			t.Fatalf("%s: revision %d not above the previous %d", what, rev, last)
		}
		last = rev
	}
	step("put k1", put(t, b, "k1", "1", state.PutOptions{}))
	step("put k2", put(t, b, "k2", "1", state.PutOptions{}))
	step("put k1 again", put(t, b, "k1", "2", state.PutOptions{}))
	if kv := get(t, b, "k1"); kv.Revision != last {
		t.Fatalf("Get(k1) revision %d, want %d", kv.Revision, last)
	}
	wantErr(t, "Delete(k2)", b.Delete(ctx, "k2", 0), nil)
	step("put k2 after delete", put(t, b, "k2", "2", state.PutOptions{}))
	if kv := get(t, b, "k1"); kv.Revision >= last {
		t.Fatalf("k1's revision %d moved with k2's writes", kv.Revision)
	}
}
