package auth

import (
	"context"
	"fmt"
	"runtime"

	"golang.org/x/crypto/bcrypt"
)

// Hasher hashes and checks passwords. Every login attempt runs exactly
// one of its methods, whatever the outcome, so that a failed login costs
// the same time whether or not the account exists.
type Hasher interface {
	// Hash returns the stored form of a new password.
	Hash(password []byte) ([]byte, error)
	// Compare returns nil when password matches hash.
	Compare(hash, password []byte) error
}

// bcryptHasher is the default Hasher: bcrypt at bcryptCost.
type bcryptHasher struct{}

func (bcryptHasher) Hash(password []byte) ([]byte, error) {
	return bcrypt.GenerateFromPassword(password, bcryptCost)
}

func (bcryptHasher) Compare(hash, password []byte) error {
	return bcrypt.CompareHashAndPassword(hash, password)
}

// passwordWork runs the hasher with at most a fixed number of hashes at
// a time, so a flood of logins queues here instead of taking every CPU
// from the proxy's sessions.
type passwordWork struct {
	h     Hasher
	slots chan struct{}
	// dummy is the hash of a random password, made by h, that attempts
	// without a real hash to check are compared against.
	dummy []byte
}

func newPasswordWork(h Hasher, parallel int) (*passwordWork, error) {
	if h == nil {
		h = bcryptHasher{}
	}
	if parallel <= 0 {
		parallel = runtime.NumCPU()
	}
	dummy, err := h.Hash([]byte(newSecret(16)))
	if err != nil {
		return nil, fmt.Errorf("hashing the stand-in password: %w", err)
	}
	return &passwordWork{h: h, slots: make(chan struct{}, parallel), dummy: dummy}, nil
}

// acquire waits for a free slot, or for ctx to end.
func (w *passwordWork) acquire(ctx context.Context) error {
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting to check the password: %w", ctx.Err())
	}
}

func (w *passwordWork) release() { <-w.slots }

// compare checks password against hash, or against the stand-in hash
// when hash is empty; with an empty hash the answer is always false.
func (w *passwordWork) compare(ctx context.Context, hash string, password string) (bool, error) {
	if err := w.acquire(ctx); err != nil {
		return false, err
	}
	defer w.release()
	if hash == "" {
		_ = w.h.Compare(w.dummy, []byte(password))
		return false, nil
	}
	return w.h.Compare([]byte(hash), []byte(password)) == nil, nil
}

// hash returns the stored form of a new password.
func (w *passwordWork) hash(ctx context.Context, password string) (string, error) {
	if err := w.acquire(ctx); err != nil {
		return "", err
	}
	defer w.release()
	h, err := w.h.Hash([]byte(password))
	if err != nil {
		return "", fmt.Errorf("hashing the password: %w", err)
	}
	return string(h), nil
}
