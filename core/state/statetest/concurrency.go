package statetest

import (
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/keyway-dev/keyway/core/state"
)

func testConcurrentWriters(t *testing.T, b state.Backend) {
	ctx := t.Context()

	// Many writers holding the same revision: exactly one wins.
	const writers = 8
	rev := put(t, b, "race", "start", state.PutOptions{})
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, errs[i] = b.Put(ctx, "race", []byte(strconv.Itoa(i)), state.PutOptions{IfRevision: rev})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("writers %d and %d both won", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, state.ErrConflict):
			t.Fatalf("writer %d: %v, want ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no writer won")
	}
	if kv := get(t, b, "race"); string(kv.Value) != strconv.Itoa(won) {
		t.Fatalf("value %q, want the winner's %d", kv.Value, won)
	}

	// Read-modify-write loops retrying on conflict lose no increment.
	const workers, increments = 4, 10
	put(t, b, "counter", "0", state.PutOptions{})
	failures := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for done := 0; done < increments; {
				kv, err := b.Get(ctx, "counter")
				if err != nil {
					failures <- err
					return
				}
				n, err := strconv.Atoi(string(kv.Value))
				if err != nil {
					failures <- err
					return
				}
				_, err = b.Put(ctx, "counter", []byte(strconv.Itoa(n+1)), state.PutOptions{IfRevision: kv.Revision})
				switch {
				case err == nil:
					done++
				case !errors.Is(err, state.ErrConflict):
					failures <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Fatalf("incrementing: %v", err)
	}
	if kv := get(t, b, "counter"); string(kv.Value) != strconv.Itoa(workers*increments) {
		t.Fatalf("counter = %q, want %d", kv.Value, workers*increments)
	}
}
