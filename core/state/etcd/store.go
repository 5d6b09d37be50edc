// Package etcd is the state backend for several auth servers sharing one
// etcd cluster.
//
// Every key lives under Config.Prefix. Revisions are etcd's: the revision
// of the whole etcd keyspace, which only grows. Conditional writes are etcd
// transactions on a key's ModRevision (IfRevision) or CreateRevision == 0
// (IfAbsent). A TTL is an etcd lease of whole seconds (rounded up, and
// raised by etcd to its minimum, about 2 s with default timing); the key
// disappears when etcd revokes the lease, shortly after it runs out, and
// watchers see that as EventDelete. Leases of replaced keys are not
// revoked: they run out on their own. KV.Expires is the lease's expiry as
// etcd reports it, to the second.
//
// Watches are etcd watches. A watcher that falls behind, a watch that etcd
// cancels (e.g. after compaction), and Close end the watch with EventLost.
// etcd's client moves watches to another member when one fails.
//
// Operations are not retried: a write that fails because etcd is between
// leaders returns the error.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keyway-dev/keyway/core/state"
)

// keepalive settings detect a dead member connection, so that the client
// moves to another member.
const (
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 5 * time.Second
)

var errClosed = errors.New("etcd state backend closed")

// Store is a state.Backend on etcd.
type Store struct {
	client *clientv3.Client
	cfg    Config
	leases *leaseCache

	// closed makes calls after Close fail at once: etcd's client would
	// retry them for seconds.
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ state.Backend = (*Store)(nil)

// Open connects to etcd and checks, within the dial timeout, that the
// cluster answers.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    keepaliveTime,
		DialKeepAliveTimeout: keepaliveTimeout,
		TLS:                  tlsCfg,
		// The client's log lines may carry keys; keyway logs none.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := client.Get(pctx, cfg.Prefix, clientv3.WithCountOnly()); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("etcd at %s does not answer: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return &Store{client: client, cfg: cfg, leases: newLeaseCache(client)}, nil
}

// Close closes the connection; open watches end with EventLost.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if err := s.client.Close(); err != nil {
			s.closeErr = fmt.Errorf("closing etcd client: %w", err)
		}
	})
	return s.closeErr
}

// ready fails when the store is closed or ctx has ended.
func (s *Store) ready(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return ctx.Err()
}

// etcdKey is the key in etcd of a state key.
func (s *Store) etcdKey(key string) string { return s.cfg.Prefix + key }

// stateKey is the state key of an etcd key under the prefix.
func (s *Store) stateKey(key []byte) string {
	return strings.TrimPrefix(string(key), s.cfg.Prefix)
}

// checkKey rejects keys no backend can store.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key")
	}
	return nil
}
