package discovery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/state"
)

// Directory is a proxy's view of the cluster's proxies: one watch on the
// state backend, shared by every agent's stream, so the number of agents
// does not multiply the watches on etcd.
type Directory struct {
	state  state.Backend
	logger hclog.Logger

	mu      sync.Mutex
	set     []Proxy
	changed chan struct{} // closed and replaced when set changes
	ready   chan struct{} // closed after the first complete listing
	once    sync.Once
}

// NewDirectory returns a directory that knows nothing until Run lists
// the records.
func NewDirectory(st state.Backend, logger hclog.Logger) *Directory {
	return &Directory{state: st, logger: logger, changed: make(chan struct{}), ready: make(chan struct{})}
}

// Current returns the set, sorted by address, and a channel that is
// closed when it changes. It waits for the first listing, or until ctx
// ends.
func (d *Directory) Current(ctx context.Context) ([]Proxy, <-chan struct{}, error) {
	select {
	case <-d.ready:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("waiting for the list of proxies: %w", ctx.Err())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Proxy(nil), d.set...), d.changed, nil
}

// Run follows the records until ctx ends: it lists them, then applies
// the watch's changes. When the watch breaks or the backend fails, it
// lists again after a delay that doubles up to 5 s.
func (d *Directory) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := d.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		d.logger.Warn("following the cluster's proxies in the state backend; listing again", "error", err, "delay", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// follow lists the records and applies changes until the watch breaks.
// The watch starts before the listing, so no change falls between them;
// changes the listing already shows are applied again harmlessly, and
// the revision check keeps an older event from undoing a newer state.
func (d *Directory) follow(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := d.state.Watch(wctx, keyPrefix)
	if err != nil {
		return fmt.Errorf("watching %s: %w", keyPrefix, err)
	}
	kvs, err := d.state.List(ctx, keyPrefix)
	if err != nil {
		return fmt.Errorf("listing %s: %w", keyPrefix, err)
	}
	revs := map[string]int64{}
	recs := map[string]Proxy{}
	for _, kv := range kvs {
		d.apply(recs, revs, state.Event{Type: state.EventPut, KV: kv})
	}
	d.publish(recs)
	for ev := range events {
		if ev.Type == state.EventLost {
			return fmt.Errorf("the watch of %s broke: %w", keyPrefix, ev.Err)
		}
		d.apply(recs, revs, ev)
		d.publish(recs)
	}
	return fmt.Errorf("the watch of %s ended", keyPrefix)
}

// apply records one change of a key; a record that cannot be read is
// logged and left out.
func (d *Directory) apply(recs map[string]Proxy, revs map[string]int64, ev state.Event) {
	key := ev.KV.Key
	if !isProxyKey(key) || ev.KV.Revision < revs[key] {
		return
	}
	revs[key] = ev.KV.Revision
	if ev.Type == state.EventDelete {
		delete(recs, key)
		return
	}
	p, err := decode(key, ev.KV.Value)
	if err != nil {
		d.logger.Warn("ignoring a proxy record", "error", err)
		delete(recs, key)
		return
	}
	recs[key] = p
}

// publish installs the set and wakes those waiting, if it changed.
func (d *Directory) publish(recs map[string]Proxy) {
	set := sorted(recs)
	d.mu.Lock()
	// A change of a proxy's health or version is kept, for keyway
	// status, but wakes no one: the agents follow the set of addresses.
	if !equal(set, d.set) {
		close(d.changed)
		d.changed = make(chan struct{})
		d.logger.Info("the cluster's proxies", "proxies", Addrs(set))
	}
	d.set = set
	d.mu.Unlock()
	d.once.Do(func() { close(d.ready) })
}
