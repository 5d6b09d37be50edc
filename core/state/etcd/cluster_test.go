package etcd

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/test/etcdtest"
)

// failoverWait bounds how long the cluster may take to serve writes again
// after losing a member, leader election included.
const failoverWait = 30 * time.Second

// TestTwoServersOneCluster runs two backends, like two auth servers, on a
// three-member cluster: each sees the other's writes through Watch, before
// and after the leader is stopped.
func TestTwoServersOneCluster(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	ctx := t.Context()
	a, b := openStore(t, cluster), openStore(t, cluster)
	watchA, err := a.Watch(ctx, "users/")
	if err != nil {
		t.Fatal(err)
	}
	watchB, err := b.Watch(ctx, "users/")
	if err != nil {
		t.Fatal(err)
	}

	revAlice := mustPut(t, a, "users/alice", state.PutOptions{IfAbsent: true})
	waitPut(t, watchB, "users/alice", revAlice)
	waitPut(t, watchA, "users/alice", revAlice)
	revBob := mustPut(t, b, "users/bob", state.PutOptions{})
	waitPut(t, watchA, "users/bob", revBob)
	waitPut(t, watchB, "users/bob", revBob)

	// The two servers race on one revision: one wins.
	_, errA := a.Put(ctx, "users/alice", []byte("from a"), state.PutOptions{IfRevision: revAlice})
	_, errB := b.Put(ctx, "users/alice", []byte("from b"), state.PutOptions{IfRevision: revAlice})
	if (errA == nil) == (errB == nil) || !errors.Is(errA, state.ErrConflict) && !errors.Is(errB, state.ErrConflict) {
		t.Fatalf("racing puts: a %v, b %v; want exactly one ErrConflict", errA, errB)
	}

	leader := leaderIndex(t, a, cluster)
	t.Logf("stopping member %d, the leader (pid %d)", leader, cluster.Member(leader).Pid())
	cluster.StopMember(leader)

	revCarol := putEventually(t, a, "users/carol")
	waitPut(t, watchB, "users/carol", revCarol)
	revDave := putEventually(t, b, "users/dave")
	waitPut(t, watchA, "users/dave", revDave)
	if kv, err := b.Get(ctx, "users/carol"); err != nil || kv.Revision < revCarol {
		t.Fatalf("b.Get(users/carol) after the stop: rev %d, %v", kv.Revision, err)
	}
	kvs, err := a.List(ctx, "users/")
	if err != nil || len(kvs) != 4 {
		t.Fatalf("a.List(users/) after the stop: %d keys, %v; want 4", len(kvs), err)
	}
}

func openStore(t *testing.T, cluster *etcdtest.Cluster) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Endpoints: cluster.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustPut(t *testing.T, s *Store, key string, opts state.PutOptions) int64 {
	t.Helper()
	rev, err := s.Put(t.Context(), key, []byte("v"), opts)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return rev
}

// putEventually retries an unconditional put while the cluster recovers.
func putEventually(t *testing.T, s *Store, key string) int64 {
	t.Helper()
	deadline := time.Now().Add(failoverWait)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		rev, err := s.Put(ctx, key, []byte("v"), state.PutOptions{})
		cancel()
		if err == nil {
			return rev
		}
		if time.Now().After(deadline) {
			t.Fatalf("Put(%q) still failing %s after the stop: %v", key, failoverWait, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPut reads events until the put of key at rev, failing on a lost
// watch. An earlier put of the same key (a retried put that did land) is
// skipped.
func waitPut(t *testing.T, ch <-chan state.Event, key string, rev int64) {
	t.Helper()
	timeout := time.After(failoverWait)
	for {
		select {
		case ev, ok := <-ch:
			switch {
			case !ok:
				t.Fatalf("watch closed waiting for %q", key)
			case ev.Type == state.EventLost:
				t.Fatalf("watch lost waiting for %q: %v", key, ev.Err)
			case ev.Type == state.EventPut && ev.KV.Key == key && ev.KV.Revision == rev:
				return
			case ev.KV.Revision > rev:
				t.Fatalf("event %s %q rev %d passed rev %d of %q", ev.Type, ev.KV.Key, ev.KV.Revision, rev, key)
			}
		case <-timeout:
			t.Fatalf("no put of %q at rev %d within %s", key, rev, failoverWait)
		}
	}
}

// leaderIndex is the index of the cluster's leader.
func leaderIndex(t *testing.T, s *Store, cluster *etcdtest.Cluster) int {
	t.Helper()
	for i, m := range cluster.Members() {
		st, err := s.client.Status(t.Context(), m.ClientURL)
		if err != nil {
			t.Fatalf("status of %s: %v", m.Name, err)
		}
		if st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no leader")
	return -1
}
