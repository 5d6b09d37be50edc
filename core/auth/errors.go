package auth

import "errors"

// Kinds of error. An error of a Service operation that the request
// caused matches one of them with errors.Is, so that a caller can tell
// them apart (the admin API answers each with its own gRPC status code),
// while the error's text stays the sentence written for the person
// asking.
var (
	// ErrNotFound: the request names a record that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the record the request would create exists already.
	ErrExists = errors.New("already exists")
	// ErrInvalid: the request is malformed or breaks a rule, whatever
	// is stored.
	ErrInvalid = errors.New("invalid request")
)

// WithKind returns err marked as of kind (ErrNotFound, ErrExists,
// ErrInvalid): errors.Is matches both err and kind, and the text is
// err's alone.
func WithKind(kind, err error) error {
	return &kindError{err: err, kind: kind}
}

// kindError is an error with a kind.
type kindError struct {
	err, kind error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }
