package state

import "errors"

// Errors a Backend returns, possibly wrapped: test with errors.Is.
var (
	// ErrNotFound: the key does not exist or has expired.
	ErrNotFound = errors.New("state: key not found")
	// ErrConflict: a write's condition (PutOptions.IfAbsent,
	// PutOptions.IfRevision, or Delete's ifRevision) did not hold.
	ErrConflict = errors.New("state: revision conflict")
)
