package state

import "context"

// Backend stores the cluster state. Implementations are safe for
// concurrent use. Keys and values are never logged.
type Backend interface {
	// Get returns the key, or ErrNotFound when it is absent or expired.
	Get(ctx context.Context, key string) (KV, error)

	// List returns every key that starts with prefix ("" for all), sorted
	// by key, expired keys excluded. The result is one consistent view.
	List(ctx context.Context, prefix string) ([]KV, error)

	// Put sets the key's value and returns the new revision. When a
	// condition of opts fails it returns ErrConflict and changes nothing.
	Put(ctx context.Context, key string, value []byte, opts PutOptions) (int64, error)

	// Delete removes the key. With ifRevision > 0 it removes it only if
	// its revision is exactly ifRevision, else returns ErrConflict; 0
	// means unconditional. An absent or expired key is ErrNotFound.
	Delete(ctx context.Context, key string, ifRevision int64) error

	// Watch reports, in revision order, every change to keys that start
	// with prefix made after Watch returns: puts, deletes, and expiries
	// (as EventDelete). The channel closes when ctx ends. It also closes
	// when the watch breaks (the watcher fell behind and the backend's
	// bounded buffer for it filled up, or the backend was closed or lost
	// its change feed); then the last event before the close is an
	// EventLost. A slow watcher therefore never blocks writers and never
	// loses events silently: on EventLost, re-list and watch again.
	Watch(ctx context.Context, prefix string) (<-chan Event, error)

	// Close releases the backend. Open watches end with EventLost. Close
	// may be called more than once.
	Close() error
}
