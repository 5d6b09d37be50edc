package etcd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keyway-dev/keyway/core/state"
)

// revokeTimeout bounds the clean-up of a lease a failed put granted.
const revokeTimeout = 5 * time.Second

// Put sets the key's value in one etcd transaction whose condition is
// opts' IfAbsent or IfRevision, and returns the new revision.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts state.PutOptions) (int64, error) {
	if err := checkPut(key, opts); err != nil {
		return 0, fmt.Errorf("put: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return 0, fmt.Errorf("put: %w", err)
	}
	k := s.etcdKey(key)
	var cmps []clientv3.Cmp
	switch {
	case opts.IfAbsent:
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
	case opts.IfRevision > 0:
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", opts.IfRevision))
	}
	var putOpts []clientv3.OpOption
	var lease clientv3.LeaseID
	if opts.TTL > 0 {
		id, err := s.grant(ctx, opts.TTL)
		if err != nil {
			return 0, fmt.Errorf("put: %w", err)
		}
		lease = id
		putOpts = append(putOpts, clientv3.WithLease(id))
	}
	resp, err := s.client.Txn(ctx).If(cmps...).Then(clientv3.OpPut(k, string(value), putOpts...)).Commit()
	if err == nil && !resp.Succeeded {
		err = state.ErrConflict
	}
	if err != nil {
		if lease != 0 {
			s.revoke(ctx, lease)
		}
		return 0, fmt.Errorf("put: %w", err)
	}
	return resp.Header.Revision, nil
}

// grant creates a lease of at least ttl, rounded up to whole seconds.
func (s *Store) grant(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	secs := int64(math.Ceil(ttl.Seconds()))
	resp, err := s.client.Grant(ctx, secs)
	if err != nil {
		return 0, fmt.Errorf("granting a lease of %ds: %w", secs, err)
	}
	s.leases.remember(resp.ID, time.Now().Add(time.Duration(resp.TTL)*time.Second))
	return resp.ID, nil
}

// revoke drops a lease a failed put granted. On failure the lease runs
// out on its own, so errors are ignored.
func (s *Store) revoke(ctx context.Context, id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	_, _ = s.client.Revoke(ctx, id)
}

// Delete removes the key; with ifRevision > 0 only if its ModRevision is
// that.
func (s *Store) Delete(ctx context.Context, key string, ifRevision int64) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if ifRevision < 0 {
		return fmt.Errorf("delete: negative revision %d", ifRevision)
	}
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	k := s.etcdKey(key)
	if ifRevision == 0 {
		resp, err := s.client.Delete(ctx, k)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		if resp.Deleted == 0 {
			return fmt.Errorf("delete: %w", state.ErrNotFound)
		}
		return nil
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", ifRevision)).
		Then(clientv3.OpDelete(k)).
		Else(clientv3.OpGet(k, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if resp.Succeeded {
		return nil
	}
	if resp.Responses[0].GetResponseRange().Count == 0 {
		return fmt.Errorf("delete: %w", state.ErrNotFound)
	}
	return fmt.Errorf("delete: key not at revision %d: %w", ifRevision, state.ErrConflict)
}

// checkPut rejects a key or options that make no sense.
func checkPut(key string, opts state.PutOptions) error {
	if err := checkKey(key); err != nil {
		return err
	}
	switch {
	case opts.TTL < 0:
		return fmt.Errorf("negative TTL %s", opts.TTL)
	case opts.IfRevision < 0:
		return fmt.Errorf("negative revision %d", opts.IfRevision)
	case opts.IfAbsent && opts.IfRevision > 0:
		return errors.New("IfAbsent and IfRevision together")
	}
	return nil
}
