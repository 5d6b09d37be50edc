package embedded

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keyway-dev/keyway/core/state"
)

// write runs fn in a write transaction and, once it has committed, hands
// the events fn returned to the watchers, all under wmu so that events go
// out in revision order.
func (s *Store) write(fn func(tx *bolt.Tx, now time.Time) ([]state.Event, error)) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return errClosed
	}
	var events []state.Event
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		events, err = fn(tx, s.now())
		return err
	})
	if err != nil {
		return err
	}
	s.hub.publish(events)
	return nil
}

// load returns the key's record; ok is false when there is none.
func load(tx *bolt.Tx, key string) (rec record, ok bool, err error) {
	b := tx.Bucket(bucketKV).Get([]byte(key))
	if b == nil {
		return record{}, false, nil
	}
	rec, err = decodeRecord(b)
	if err != nil {
		return record{}, false, err
	}
	return rec, true, nil
}

// save stores the key's record and its expiry index entry.
func save(tx *bolt.Tx, key string, rec record) error {
	if err := tx.Bucket(bucketKV).Put([]byte(key), rec.encode()); err != nil {
		return fmt.Errorf("storing record: %w", err)
	}
	if rec.expires != 0 {
		if err := tx.Bucket(bucketExpiry).Put(expiryKey(rec.expires, key), nil); err != nil {
			return fmt.Errorf("storing expiry: %w", err)
		}
	}
	return nil
}

// remove deletes the key's record rec and its expiry index entry.
func remove(tx *bolt.Tx, key string, rec record) error {
	if err := tx.Bucket(bucketKV).Delete([]byte(key)); err != nil {
		return fmt.Errorf("deleting record: %w", err)
	}
	if rec.expires != 0 {
		if err := tx.Bucket(bucketExpiry).Delete(expiryKey(rec.expires, key)); err != nil {
			return fmt.Errorf("deleting expiry: %w", err)
		}
	}
	return nil
}

// deleteKey removes the key with a new revision and returns the event.
func deleteKey(tx *bolt.Tx, key string, rec record) (state.Event, error) {
	if err := remove(tx, key, rec); err != nil {
		return state.Event{}, err
	}
	rev, err := nextRevision(tx)
	if err != nil {
		return state.Event{}, err
	}
	return state.Event{Type: state.EventDelete, KV: state.KV{Key: key, Revision: rev}}, nil
}

// loadLive is load for a write: an expired record that the sweeper has not
// removed yet is removed now, so that watchers see its deletion before
// what follows, and reported as absent.
func loadLive(tx *bolt.Tx, key string, now time.Time) (rec record, ok bool, events []state.Event, err error) {
	rec, ok, err = load(tx, key)
	if err != nil || !ok || !rec.expired(now) {
		return rec, ok, nil, err
	}
	ev, err := deleteKey(tx, key, rec)
	if err != nil {
		return record{}, false, nil, err
	}
	return record{}, false, []state.Event{ev}, nil
}

// checkKey rejects keys no backend can store.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key")
	}
	return nil
}
