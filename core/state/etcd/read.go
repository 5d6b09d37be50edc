package etcd

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyway-dev/keyway/core/state"
)

// pageSize is how many keys one List request fetches.
const pageSize = 256

// Get returns the key, or state.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (state.KV, error) {
	if err := checkKey(key); err != nil {
		return state.KV{}, fmt.Errorf("get: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return state.KV{}, fmt.Errorf("get: %w", err)
	}
	resp, err := s.client.Get(ctx, s.etcdKey(key))
	if err != nil {
		return state.KV{}, fmt.Errorf("get: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return state.KV{}, fmt.Errorf("get: %w", state.ErrNotFound)
	}
	kv, live, err := s.toKV(ctx, resp.Kvs[0])
	if err != nil {
		return state.KV{}, fmt.Errorf("get: %w", err)
	}
	if !live {
		return state.KV{}, fmt.Errorf("get: %w", state.ErrNotFound)
	}
	return kv, nil
}

// List returns the keys under prefix, sorted, as of one revision.
func (s *Store) List(ctx context.Context, prefix string) ([]state.KV, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	from := s.etcdKey(prefix)
	end := clientv3.GetPrefixRangeEnd(from)
	var kvs []state.KV
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, from, opts...)
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, ekv := range resp.Kvs {
			kv, live, err := s.toKV(ctx, ekv)
			if err != nil {
				return nil, fmt.Errorf("list: %w", err)
			}
			if live {
				kvs = append(kvs, kv)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return kvs, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// toKV converts an etcd key, looking up its lease's expiry. live is false
// when the lease is already gone: the key is about to disappear.
func (s *Store) toKV(ctx context.Context, ekv *mvccpb.KeyValue) (kv state.KV, live bool, err error) {
	kv = state.KV{Key: s.stateKey(ekv.Key), Value: ekv.Value, Revision: ekv.ModRevision}
	if ekv.Lease == 0 {
		return kv, true, nil
	}
	kv.Expires, live, err = s.leases.expiry(ctx, clientv3.LeaseID(ekv.Lease))
	if err == nil && !live {
		kv.Expires = time.Now()
	}
	return kv, live, err
}
