package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keyway-dev/keyway/core/state"
)

// Put sets the key's value and returns its new revision, or
// state.ErrConflict when a condition of opts fails.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts state.PutOptions) (int64, error) {
	if err := checkPut(key, opts); err != nil {
		return 0, fmt.Errorf("put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("put: %w", err)
	}
	value = append([]byte{}, value...)
	var rev int64
	var condErr error
	err := s.write(func(tx *bolt.Tx, now time.Time) ([]state.Event, error) {
		old, exists, events, err := loadLive(tx, key, now)
		if err != nil {
			return nil, err
		}
		switch {
		case opts.IfAbsent && exists:
			condErr = fmt.Errorf("key exists: %w", state.ErrConflict)
		case opts.IfRevision > 0 && !exists:
			condErr = fmt.Errorf("key absent, expected revision %d: %w", opts.IfRevision, state.ErrConflict)
		case opts.IfRevision > 0 && old.rev != opts.IfRevision:
			condErr = fmt.Errorf("key at revision %d, expected %d: %w", old.rev, opts.IfRevision, state.ErrConflict)
		}
		if condErr != nil {
			// Commit what loadLive expired, nothing else.
			return events, nil
		}
		if exists {
			if err := remove(tx, key, old); err != nil {
				return nil, err
			}
		}
		if rev, err = nextRevision(tx); err != nil {
			return nil, err
		}
		rec := record{rev: rev, value: value}
		if opts.TTL > 0 {
			rec.expires = now.Add(opts.TTL).UnixNano()
		}
		if err := save(tx, key, rec); err != nil {
			return nil, err
		}
		return append(events, state.Event{Type: state.EventPut, KV: rec.kv(key)}), nil
	})
	if err != nil {
		return 0, fmt.Errorf("put: %w", err)
	}
	if condErr != nil {
		return 0, fmt.Errorf("put: %w", condErr)
	}
	return rev, nil
}

// Delete removes the key; with ifRevision > 0 only at that revision.
func (s *Store) Delete(ctx context.Context, key string, ifRevision int64) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if ifRevision < 0 {
		return fmt.Errorf("delete: negative revision %d", ifRevision)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	var condErr error
	err := s.write(func(tx *bolt.Tx, now time.Time) ([]state.Event, error) {
		old, exists, events, err := loadLive(tx, key, now)
		if err != nil {
			return nil, err
		}
		switch {
		case !exists:
			condErr = state.ErrNotFound
		case ifRevision > 0 && old.rev != ifRevision:
			condErr = fmt.Errorf("key at revision %d, expected %d: %w", old.rev, ifRevision, state.ErrConflict)
		}
		if condErr != nil {
			return events, nil
		}
		ev, err := deleteKey(tx, key, old)
		if err != nil {
			return nil, err
		}
		return append(events, ev), nil
	})
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if condErr != nil {
		return fmt.Errorf("delete: %w", condErr)
	}
	return nil
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
