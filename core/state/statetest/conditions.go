package statetest

import (
	"testing"

	"github.com/keyway-dev/keyway/core/state"
)

func testIfAbsent(t *testing.T, b state.Backend) {
	ctx := t.Context()
	create := state.PutOptions{IfAbsent: true}
	rev := put(t, b, "k", "first", create)
	_, err := b.Put(ctx, "k", []byte("second"), create)
	wantErr(t, "second create", err, state.ErrConflict)
	if kv := get(t, b, "k"); string(kv.Value) != "first" || kv.Revision != rev {
		t.Fatalf("after a failed create: %q rev %d, want %q rev %d", kv.Value, kv.Revision, "first", rev)
	}
	wantErr(t, "Delete", b.Delete(ctx, "k", 0), nil)
	put(t, b, "k", "again", create)
}

func testIfRevision(t *testing.T, b state.Backend) {
	ctx := t.Context()
	r1 := put(t, b, "k", "one", state.PutOptions{})
	r2 := put(t, b, "k", "two", state.PutOptions{IfRevision: r1})
	cases := []struct {
		name string
		key  string
		rev  int64
	}{
		{"stale revision", "k", r1},
		{"future revision", "k", r2 + 1000},
		{"absent key", "absent", r2},
	}
	for _, c := range cases {
		_, err := b.Put(ctx, c.key, []byte("x"), state.PutOptions{IfRevision: c.rev})
		wantErr(t, c.name, err, state.ErrConflict)
	}
	if kv := get(t, b, "k"); string(kv.Value) != "two" || kv.Revision != r2 {
		t.Fatalf("after failed puts: %q rev %d, want %q rev %d", kv.Value, kv.Revision, "two", r2)
	}
	_, err := b.Get(ctx, "absent")
	wantErr(t, "Get(absent) after a failed put", err, state.ErrNotFound)
	put(t, b, "k", "three", state.PutOptions{IfRevision: r2})
}

func testDeleteIfRevision(t *testing.T, b state.Backend) {
	ctx := t.Context()
	r1 := put(t, b, "k", "one", state.PutOptions{})
	r2 := put(t, b, "k", "two", state.PutOptions{})
	wantErr(t, "Delete at a stale revision", b.Delete(ctx, "k", r1), state.ErrConflict)
	if kv := get(t, b, "k"); kv.Revision != r2 {
		t.Fatalf("after a failed delete: rev %d, want %d", kv.Revision, r2)
	}
	wantErr(t, "Delete at the current revision", b.Delete(ctx, "k", r2), nil)
	_, err := b.Get(ctx, "k")
	wantErr(t, "Get after Delete", err, state.ErrNotFound)
	wantErr(t, "Delete of an absent key with a revision", b.Delete(ctx, "k", r2), state.ErrNotFound)
}
