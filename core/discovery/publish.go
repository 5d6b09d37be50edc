package discovery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/state"
)

// Default timing of a proxy's record: renewed every DefaultInterval, it
// expires DefaultTTL after the last renewal, so a killed proxy leaves the
// set within DefaultTTL (plus etcd's lease granularity of a second).
const (
	DefaultTTL      = 10 * time.Second
	DefaultInterval = 3 * time.Second
)

// cleanupTimeout bounds the removal of the record at shutdown.
const cleanupTimeout = 2 * time.Second

// Publisher keeps one proxy's record in the state backend: a put with a
// TTL, renewed by putting it again (each renewal is a new etcd lease; the
// replaced ones run out on their own).
type Publisher struct {
	State  state.Backend
	Self   Proxy
	Logger hclog.Logger
	// TTL and Interval default to DefaultTTL and DefaultInterval.
	TTL      time.Duration
	Interval time.Duration

	rev int64
}

// Beat writes the record once.
func (p *Publisher) Beat(ctx context.Context) error {
	b, err := p.Self.encode()
	if err != nil {
		return err
	}
	rev, err := p.State.Put(ctx, p.Self.key(), b, state.PutOptions{TTL: p.ttl()})
	if err != nil {
		return fmt.Errorf("publishing proxy %s: %w", p.Self.Addr, err)
	}
	p.rev = rev
	return nil
}

// Run renews the record until ctx ends, then removes it unless another
// proxy behind the same address has written it since. A failed renewal
// is logged and tried again at the next beat.
func (p *Publisher) Run(ctx context.Context) {
	t := time.NewTicker(p.interval())
	defer t.Stop()
	failing := false
	for {
		if err := p.Beat(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				p.Logger.Warn("cannot publish this proxy in the state backend; agents may not find it", "address", p.Self.Addr, "error", err)
			}
			failing = true
		} else if err == nil && failing {
			p.Logger.Info("this proxy is published again", "address", p.Self.Addr)
			failing = false
		}
		select {
		case <-ctx.Done():
			p.Remove()
			return
		case <-t.C:
		}
	}
}

// Remove deletes the record written last, so that agents stop dialling a
// proxy that shut down cleanly without waiting for the TTL.
func (p *Publisher) Remove() {
	if p.rev == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := p.State.Delete(ctx, p.Self.key(), p.rev)
	if err != nil && !errors.Is(err, state.ErrConflict) && !errors.Is(err, state.ErrNotFound) {
		p.Logger.Warn("removing this proxy's record; it expires on its own", "address", p.Self.Addr, "error", err)
	}
}

func (p *Publisher) ttl() time.Duration {
	if p.TTL > 0 {
		return p.TTL
	}
	return DefaultTTL
}

func (p *Publisher) interval() time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	return min(DefaultInterval, p.ttl()/3)
}
