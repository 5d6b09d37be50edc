package agent

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/sdk"
)

// setFeed hands the sets sent on its channel to apply, as a watch would;
// it records the selectors it was asked for.
type setFeed struct {
	sets   chan []config.Database
	broken chan struct{}
	mu     sync.Mutex
	asks   [][]access.LabelSelector
}

func (f *setFeed) WatchDatabases(ctx context.Context, selectors []access.LabelSelector, apply func([]config.Database)) error {
	f.mu.Lock()
	f.asks = append(f.asks, selectors)
	f.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.broken:
			return errors.New("feed broken")
		case set := <-f.sets:
			apply(set)
		}
	}
}

// syncBuffer is a log destination safe for the Dynamic's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDynamicServesWhatTheFeedSends(t *testing.T) {
	static := pg("static", "s:5432", nil)
	r, err := NewRegistry([]config.Database{static}, noCAs{})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	probed := make(chan string, 10)
	feed := &setFeed{sets: make(chan []config.Database), broken: make(chan struct{})}
	selectors := []access.LabelSelector{{"env": {"dev"}}}
	d := &Dynamic{
		Feed: feed, Selectors: selectors, Registry: r,
		Checker:     &Checker{Registry: r, Probe: func(_ context.Context, db sdk.Database) error { probed <- db.Name; return nil }},
		HasProtocol: func(p string) bool { return p == "postgres" },
		Logger:      hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info}),
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	send := func(set ...config.Database) {
		t.Helper()
		select {
		case feed.sets <- set:
		case <-time.After(5 * time.Second):
			t.Fatal("the Dynamic does not read its feed")
		}
	}
	collision := pg("static", "other:5432", nil)
	redis := config.Database{Name: "cache", Protocol: "redis", URI: "c:6379"}
	send(pg("orders", "o:5432", nil), collision, redis)
	send(pg("orders", "o:5432", nil), collision, redis) // the same again: refusals are not logged twice
	send(pg("orders", "o:5432", nil), collision, redis) // taken once the second is applied
	if got := <-probed; got != "orders" {
		t.Fatalf("checked %s first, want the new db resource orders", got)
	}
	if got := names(r.List()); got != "orders,static" {
		t.Fatalf("serving %s", got)
	}
	if db, _ := r.definition("static"); db.URI != "s:5432" {
		t.Fatalf("the configured database was replaced: %+v", db)
	}
	out := logs.String()
	if n := strings.Count(out, "not serving db resource static: this agent's configuration has a database block named static"); n != 1 {
		t.Fatalf("the collision was logged %d times:\n%s", n, out)
	}
	if n := strings.Count(out, `not serving db resource cache: this agent runs no protocol plugin named "redis"`); n != 1 {
		t.Fatalf("the missing protocol was logged %d times:\n%s", n, out)
	}
	if !strings.Contains(out, "serving db resources: databases=orders") {
		t.Fatalf("no line for the new db resource:\n%s", out)
	}

	send()
	waitUntil(t, func() bool { return names(r.List()) == "static" })
	if !strings.Contains(logs.String(), "stopped serving db resources: databases=orders") {
		t.Fatalf("no line for the removal:\n%s", logs.String())
	}

	close(feed.broken) // the feed breaks; the Dynamic watches again
	waitUntil(t, func() bool {
		feed.mu.Lock()
		defer feed.mu.Unlock()
		return len(feed.asks) >= 2
	})
	feed.mu.Lock()
	defer feed.mu.Unlock()
	if len(feed.asks[1]) != 1 || feed.asks[1][0]["env"][0] != "dev" {
		t.Fatalf("watched again with selectors %v", feed.asks[1])
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
