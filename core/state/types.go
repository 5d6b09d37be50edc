package state

import "time"

// KV is one key with its value as stored.
type KV struct {
	// Key is the full key, e.g. "users/alice".
	Key string
	// Value is the stored bytes; empty in an EventDelete.
	Value []byte
	// Revision is the revision of the write that last changed the key. In
	// an EventDelete it is the revision of the deletion.
	Revision int64
	// Expires is when the key expires; the zero time means never. Backends
	// whose expiry has coarser precision (etcd leases count whole seconds)
	// report an approximation.
	Expires time.Time
}

// PutOptions are the conditions and lifetime of a Put. The zero value is an
// unconditional put of a key that never expires.
type PutOptions struct {
	// TTL makes the key expire that long after the put; 0 means never. A
	// later put of the key replaces the expiry (a put with TTL 0 removes
	// it). Backends may round it up (etcd: to whole seconds, and to its
	// minimum lease TTL).
	TTL time.Duration
	// IfRevision, when > 0, makes the put succeed only if the key exists
	// with exactly this revision; otherwise Put returns ErrConflict. 0
	// means unconditional. Use IfAbsent for create-only.
	IfRevision int64
	// IfAbsent makes the put succeed only if the key does not exist (an
	// expired key does not exist); otherwise Put returns ErrConflict. It
	// cannot be combined with IfRevision.
	IfAbsent bool
}

// EventType says what an Event reports.
type EventType int

// Event types.
const (
	// EventPut: the key was created or changed; Event.KV is the new state.
	EventPut EventType = iota + 1
	// EventDelete: the key was deleted or expired; Event.KV has the key
	// and the revision of the deletion.
	EventDelete
	// EventLost: the watch broke and events may be missing from here on,
	// because the watcher fell behind (its buffer filled up), the backend
	// was closed, or the backend lost its change feed. Event.Err says why.
	// It is always the last event: the channel closes right after it. The
	// watcher should re-list and watch again.
	EventLost
)

// String names the event type.
func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	case EventLost:
		return "lost"
	default:
		return "unknown"
	}
}

// Event is one change seen by a watch.
type Event struct {
	Type EventType
	// KV is the key after the change (EventPut) or the deleted key
	// (EventDelete); zero for EventLost.
	KV KV
	// Err is why the watch broke; set only for EventLost.
	Err error
}
