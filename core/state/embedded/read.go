package embedded

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/keyway-dev/keyway/core/state"
)

// Get returns the key, or state.ErrNotFound when it is absent or expired.
func (s *Store) Get(ctx context.Context, key string) (state.KV, error) {
	if err := checkKey(key); err != nil {
		return state.KV{}, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return state.KV{}, fmt.Errorf("get: %w", err)
	}
	var kv state.KV
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, ok, err := load(tx, key)
		if err != nil {
			return err
		}
		if !ok || rec.expired(s.now()) {
			return state.ErrNotFound
		}
		kv = rec.kv(key)
		return nil
	})
	if err != nil {
		return state.KV{}, fmt.Errorf("get: %w", err)
	}
	return kv, nil
}

// List returns the live keys that start with prefix, sorted by key.
func (s *Store) List(ctx context.Context, prefix string) ([]state.KV, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	var kvs []state.KV
	err := s.db.View(func(tx *bolt.Tx) error {
		now := s.now()
		p := []byte(prefix)
		c := tx.Bucket(bucketKV).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			if !rec.expired(now) {
				kvs = append(kvs, rec.kv(string(k)))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	return kvs, nil
}

// kv is the record as the key's state.KV.
func (r record) kv(key string) state.KV {
	return state.KV{Key: key, Value: r.value, Revision: r.rev, Expires: r.expiresAt()}
}
