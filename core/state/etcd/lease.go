package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// pruneAt is the cache size above which inserts drop expired leases.
const pruneAt = 1024

// leaseCache knows when leases expire. Keyway never extends a lease, so a
// lease's expiry, once known, stays.
type leaseCache struct {
	lease clientv3.Lease
	mu    sync.Mutex
	exp   map[clientv3.LeaseID]time.Time
}

func newLeaseCache(l clientv3.Lease) *leaseCache {
	return &leaseCache{lease: l, exp: make(map[clientv3.LeaseID]time.Time)}
}

// remember records the expiry of a lease.
func (c *leaseCache) remember(id clientv3.LeaseID, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.exp) >= pruneAt {
		now := time.Now()
		for l, t := range c.exp {
			if now.After(t) {
				delete(c.exp, l)
			}
		}
	}
	c.exp[id] = expires
}

// expiry is when lease id expires; ok is false when etcd no longer has it
// (it expired or was revoked).
func (c *leaseCache) expiry(ctx context.Context, id clientv3.LeaseID) (t time.Time, ok bool, err error) {
	c.mu.Lock()
	t, ok = c.exp[id]
	c.mu.Unlock()
	if ok {
		return t, true, nil
	}
	resp, err := c.lease.TimeToLive(ctx, id)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("lease time to live: %w", err)
	}
	if resp.TTL < 0 {
		return time.Time{}, false, nil
	}
	t = time.Now().Add(time.Duration(resp.TTL) * time.Second)
	c.remember(id, t)
	return t, true, nil
}
