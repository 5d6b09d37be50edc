// Package embedded is Keyway's default state backend: one bbolt file under
// the data directory, for a single auth server.
//
// The file is locked while open, so a second keyway using the same data
// directory fails at Open. Expired keys are hidden from reads at once and
// removed by a sweeper goroutine, which reports them to watchers as
// EventDelete. Watches are an in-process fan-out with a bounded buffer per
// watcher (see WithWatchBuffer).
package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/keyway-dev/keyway/core/state"
)

// Bucket names of the file's layout.
var (
	bucketKV     = []byte("kv")     // key -> record
	bucketExpiry = []byte("expiry") // expiry index: expiryKey -> nothing
	bucketMeta   = []byte("meta")   // metaRevision -> last revision
	metaRevision = []byte("revision")
)

// fileMode is the mode of the state file: it holds secrets.
const fileMode os.FileMode = 0o600

var errClosed = errors.New("state store closed")

// Store is a state.Backend on one bbolt file.
type Store struct {
	db   *bolt.DB
	path string
	cfg  config

	// wmu serialises writes with the publication of their events, so
	// that watchers see events in revision order, and watch registration,
	// so that a watch sees exactly the writes after it.
	wmu    sync.Mutex
	closed bool
	hub    *hub

	stopSweep chan struct{}
	sweepDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ state.Backend = (*Store)(nil)

// Open opens or creates the state file at path with mode 0600. When another
// process holds the file, Open fails after the lock timeout with an error
// that names the file.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	cfg = cfg.normalized()
	db, err := bolt.Open(path, fileMode, &bolt.Options{Timeout: cfg.lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("state file %s is locked: another keyway process holds it (waited %s): %w", path, cfg.lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening state file %s: %w", path, err)
	}
	if err := prepare(db, path); err != nil {
		_ = db.Close()
		return nil, err
	}
	s := &Store{
		db:        db,
		path:      path,
		cfg:       cfg,
		hub:       newHub(cfg.watchBuffer),
		stopSweep: make(chan struct{}),
		sweepDone: make(chan struct{}),
	}
	go s.sweepLoop()
	return s, nil
}

// prepare tightens the file's mode and creates the buckets.
func prepare(db *bolt.DB, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if fi.Mode().Perm() != fileMode {
		if err := os.Chmod(path, fileMode); err != nil {
			return fmt.Errorf("state file %s: restricting its mode to %v: %w", path, fileMode, err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketKV, bucketExpiry, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	return nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// Close stops the sweeper, ends every watch with EventLost and closes the
// file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopSweep)
		<-s.sweepDone
		s.wmu.Lock()
		s.closed = true
		s.hub.loseAll(errClosed)
		s.wmu.Unlock()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("closing state file %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// nextRevision increments and returns the store's revision counter.
func nextRevision(tx *bolt.Tx) (int64, error) {
	meta := tx.Bucket(bucketMeta)
	var rev uint64
	if b := meta.Get(metaRevision); b != nil {
		if len(b) != 8 {
			return 0, fmt.Errorf("%w: revision counter of %d bytes", errCorrupt, len(b))
		}
		rev = binary.BigEndian.Uint64(b)
	}
	rev++
	if err := meta.Put(metaRevision, binary.BigEndian.AppendUint64(nil, rev)); err != nil {
		return 0, fmt.Errorf("storing revision: %w", err)
	}
	return int64(rev), nil
}

// now is the store's clock.
func (s *Store) now() time.Time { return s.cfg.now() }
