package embedded

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keyway-dev/keyway/core/state"
)

// sweepBatch bounds the keys one sweep transaction removes, so that a mass
// expiry does not hold the write lock for long.
const sweepBatch = 1000

// sweepLoop removes expired keys every sweep interval until Close.
func (s *Store) sweepLoop() {
	defer close(s.sweepDone)
	t := time.NewTicker(s.cfg.sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
			// A failed sweep is retried at the next tick; reads hide
			// expired keys meanwhile.
			_ = s.sweep()
		}
	}
}

// sweep removes every key expired by now, in batches, reporting each to
// watchers as an EventDelete.
func (s *Store) sweep() error {
	for {
		var n int
		err := s.write(func(tx *bolt.Tx, now time.Time) ([]state.Event, error) {
			events, err := sweepBatchTx(tx, now)
			n = len(events)
			return events, err
		})
		if err != nil || n < sweepBatch {
			return err
		}
	}
}

// sweepBatchTx removes up to sweepBatch expired keys.
func sweepBatchTx(tx *bolt.Tx, now time.Time) ([]state.Event, error) {
	limit := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	var due []string
	c := tx.Bucket(bucketExpiry).Cursor()
	for k, _ := c.First(); k != nil && len(due) < sweepBatch; k, _ = c.Next() {
		if bytes.Compare(k[:min(len(k), 8)], limit) > 0 {
			break
		}
		_, key, err := parseExpiryKey(k)
		if err != nil {
			return nil, err
		}
		due = append(due, key)
	}
	var events []state.Event
	for _, key := range due {
		rec, ok, err := load(tx, key)
		if err != nil {
			return nil, err
		}
		if !ok || !rec.expired(now) {
			continue
		}
		ev, err := deleteKey(tx, key, rec)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}
