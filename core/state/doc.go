// Package state is the contract of Keyway's cluster state backend: the
// store in which the auth service keeps users, roles, join tokens and
// registered databases.
//
// A Backend is a small key-value store with revisions, conditional writes,
// expiring keys and prefix watches. Keys are "/"-separated strings such as
// "users/alice"; values are opaque bytes. Every write (put, delete or
// expiry) gets a revision larger than every revision the backend handed out
// before, across all keys, so a key's revision works as an
// optimistic-concurrency token: read a key, change it with
// PutOptions.IfRevision set to the revision read, and retry on ErrConflict.
//
// The implementations live in sub-packages: embedded (a single file, the
// default) and etcd (a shared etcd cluster, for several auth servers).
// statetest holds the conformance suite both pass.
package state
