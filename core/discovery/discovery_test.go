package discovery

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/embedded"
	etcdstate "github.com/keyway-dev/keyway/core/state/etcd"
	"github.com/keyway-dev/keyway/test/etcdtest"
)

// backends runs a test on the embedded store and on a real etcd.
func backends(t *testing.T, run func(t *testing.T, st state.Backend)) {
	t.Run("embedded", func(t *testing.T) {
		st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.WithSweepInterval(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		run(t, st)
	})
	t.Run("etcd", func(t *testing.T) {
		cluster := etcdtest.Start(t, 1)
		st, err := etcdstate.Open(t.Context(), etcdstate.Config{Endpoints: cluster.Endpoints(), Prefix: "/keyway-discovery-test/"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		run(t, st)
	})
}

// follow starts a directory on st until the test ends.
func follow(t *testing.T, st state.Backend) *Directory {
	t.Helper()
	d := NewDirectory(st, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// waitSet waits until the directory's addresses are want, following
// its change notifications.
func waitSet(t *testing.T, d *Directory, within time.Duration, want ...string) []Proxy {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	for {
		set, changed, err := d.Current(ctx)
		if err != nil {
			t.Fatalf("the directory never listed the proxies: %v", err)
		}
		if slices.Equal(Addrs(set), want) {
			return set
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("after %s the directory lists %v, want %v", within, Addrs(set), want)
		}
	}
}

func TestDirectoryFollowsPublishedProxies(t *testing.T) {
	backends(t, func(t *testing.T, st state.Backend) {
		d := follow(t, st)
		waitSet(t, d, 5*time.Second)

		// A proxy that crashes stops renewing: only Beat, never Run's
		// clean-up.
		crashed := &Publisher{State: st, Self: Proxy{Addr: "10.0.0.1:3080", HostID: "spiffe://c/host/a"}, TTL: 2 * time.Second, Logger: hclog.NewNullLogger()}
		if err := crashed.Beat(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		live := &Publisher{State: st, Self: Proxy{Addr: "10.0.0.2:3080", HostID: "spiffe://c/host/b"}, TTL: 2 * time.Second, Interval: 200 * time.Millisecond, Logger: hclog.NewNullLogger()}
		go func() { live.Run(ctx); close(stopped) }()
		defer func() { stop(); <-stopped }()

		both := waitSet(t, d, 5*time.Second, "10.0.0.1:3080", "10.0.0.2:3080")
		if both[0].HostID != "spiffe://c/host/a" || both[1].HostID != "spiffe://c/host/b" {
			t.Fatalf("host identities: %+v", both)
		}
		// The crashed proxy's record expires; the renewed one stays,
		// though it outlives its TTL several times.
		start := time.Now()
		waitSet(t, d, 10*time.Second, "10.0.0.2:3080")
		if took := time.Since(start); took < time.Second {
			t.Fatalf("the crashed proxy left after %s, before its TTL", took)
		}
		// Over several TTLs the directory does not change: renewals keep
		// the record.
		set, changed, err := d.Current(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
			now, _, _ := d.Current(t.Context())
			t.Fatalf("the renewed proxy's set changed from %v to %v", Addrs(set), Addrs(now))
		case <-time.After(3 * live.TTL):
		}

		// A clean stop removes the record at once, well within its TTL.
		stop()
		<-stopped
		start = time.Now()
		waitSet(t, d, 5*time.Second)
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Fatalf("the stopped proxy left after %s", took)
		}
	})
}

func TestStopDoesNotRemoveAnotherProxysRecord(t *testing.T) {
	backends(t, func(t *testing.T, st state.Backend) {
		// Two proxies behind one load-balanced address share a record.
		self := Proxy{Addr: "lb.example.com:3080", HostID: "spiffe://c/host/a"}
		first := &Publisher{State: st, Self: self, Logger: hclog.NewNullLogger()}
		if err := first.Beat(t.Context()); err != nil {
			t.Fatal(err)
		}
		second := &Publisher{State: st, Self: Proxy{Addr: self.Addr, HostID: "spiffe://c/host/b"}, Logger: hclog.NewNullLogger()}
		if err := second.Beat(t.Context()); err != nil {
			t.Fatal(err)
		}
		first.Remove()
		kv, err := st.Get(t.Context(), self.key())
		if err != nil {
			t.Fatalf("the first proxy's clean-up removed the second's record: %v", err)
		}
		if !strings.Contains(string(kv.Value), "host/b") {
			t.Fatalf("record %q", kv.Value)
		}
		second.Remove()
		if _, err := st.Get(t.Context(), self.key()); err == nil {
			t.Fatal("the record outlived its last writer's clean-up")
		}
	})
}

func TestBadRecordsAreLeftOut(t *testing.T) {
	backends(t, func(t *testing.T, st state.Backend) {
		if _, err := st.Put(t.Context(), keyPrefix+"junk", []byte("not json"), state.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(t.Context(), keyPrefix+"empty", []byte(`{"host_id":"x"}`), state.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		d := follow(t, st)
		ok := &Publisher{State: st, Self: Proxy{Addr: "10.0.0.3:3080"}, Logger: hclog.NewNullLogger()}
		if err := ok.Beat(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitSet(t, d, 5*time.Second, "10.0.0.3:3080")
	})
}
