package embedded

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keyway-dev/keyway/core/state"
)

// clock is a settable clock for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestExpiryWithoutSweep(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	// The sweeper never runs within the test: reads alone hide the key.
	s := open(t, filepath.Join(t.TempDir(), "state.db"), WithClock(clk.Now), WithSweepInterval(time.Hour))
	ctx := t.Context()
	events, err := s.Watch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Put(ctx, "tokens/t1", []byte("v"), state.PutOptions{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, "tokens/t1")
	if err != nil || !kv.Expires.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("Get = expires %v, %v; want %v", kv.Expires, err, clk.Now().Add(time.Minute))
	}
	<-events

	clk.Advance(time.Minute)
	if _, err := s.Get(ctx, "tokens/t1"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Get after expiry: %v, want ErrNotFound", err)
	}
	if kvs, err := s.List(ctx, ""); err != nil || len(kvs) != 0 {
		t.Fatalf("List after expiry = %d keys, %v; want none", len(kvs), err)
	}
	if err := s.Delete(ctx, "tokens/t1", rev); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("Delete after expiry: %v, want ErrNotFound", err)
	}
	// The write that found the key expired removed it and said so.
	if ev := <-events; ev.Type != state.EventDelete || ev.KV.Key != "tokens/t1" || ev.KV.Revision <= rev {
		t.Fatalf("event %s %q rev %d, want delete tokens/t1 above rev %d", ev.Type, ev.KV.Key, ev.KV.Revision, rev)
	}
}

func TestSweeperRemovesExpired(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	s := open(t, filepath.Join(t.TempDir(), "state.db"), WithClock(clk.Now), WithSweepInterval(10*time.Millisecond))
	ctx := t.Context()
	events, err := s.Watch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ttls := map[string]time.Duration{"a": time.Minute, "b": 2 * time.Minute, "c": 0}
	for _, k := range []string{"a", "b", "c"} {
		if _, err := s.Put(ctx, k, []byte("v"), state.PutOptions{TTL: ttls[k]}); err != nil {
			t.Fatal(err)
		}
		<-events
	}
	// Replacing b without a TTL keeps it.
	if _, err := s.Put(ctx, "b", []byte("v2"), state.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	<-events

	clk.Advance(3 * time.Minute)
	select {
	case ev := <-events:
		if ev.Type != state.EventDelete || ev.KV.Key != "a" {
			t.Fatalf("event %s %q, want delete a", ev.Type, ev.KV.Key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sweeper removed nothing")
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketExpiry).Stats().KeyN; n != 0 {
			t.Errorf("expiry index holds %d entries, want none", n)
		}
		if n := tx.Bucket(bucketKV).Stats().KeyN; n != 2 {
			t.Errorf("file holds %d keys, want b and c", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
