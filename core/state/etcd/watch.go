package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/internal/feed"
)

var errWatchClosed = errors.New("etcd watch closed (backend closed or connection lost)")

// Watch reports the changes under prefix after it returns; see
// state.Backend. It starts an etcd watch at the revision after the current
// one, so no change made after Watch returns is missed.
func (s *Store) Watch(ctx context.Context, prefix string) (<-chan state.Event, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	k := s.etcdKey(prefix)
	resp, err := s.client.Get(ctx, k, clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	wch := s.client.Watch(wctx, k, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	f := feed.New(s.cfg.WatchBuffer)
	go s.forward(ctx, wch, f, cancel)
	return f.C(), nil
}

// forward translates etcd's watch responses into f until the watch ends.
// It is f's only producer.
func (s *Store) forward(ctx context.Context, wch clientv3.WatchChan, f *feed.Feed, cancel context.CancelFunc) {
	defer cancel()
	for resp := range wch {
		if err := resp.Err(); err != nil {
			f.Lose(fmt.Errorf("etcd watch: %w", err))
			return
		}
		if resp.Canceled {
			f.Lose(fmt.Errorf("etcd watch cancelled: %s", resp.CancelReason))
			return
		}
		for _, ev := range resp.Events {
			out, err := s.toEvent(ctx, ev)
			if err != nil {
				if ctx.Err() != nil {
					f.End()
				} else {
					f.Lose(fmt.Errorf("etcd watch: %w", err))
				}
				return
			}
			if !f.Send(out) {
				return
			}
		}
	}
	if ctx.Err() != nil {
		f.End()
		return
	}
	f.Lose(errWatchClosed)
}

// toEvent translates one etcd event.
func (s *Store) toEvent(ctx context.Context, ev *clientv3.Event) (state.Event, error) {
	if ev.Type == mvccpb.DELETE {
		return state.Event{Type: state.EventDelete, KV: state.KV{Key: s.stateKey(ev.Kv.Key), Revision: ev.Kv.ModRevision}}, nil
	}
	kv, _, err := s.toKV(ctx, ev.Kv)
	if err != nil {
		return state.Event{}, err
	}
	return state.Event{Type: state.EventPut, KV: kv}, nil
}
