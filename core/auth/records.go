package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/state"
)

// Key prefixes in the state backend.
const (
	usersPrefix  = "users/"
	botsPrefix   = "bots/"
	rolesPrefix  = "roles/"
	tokensPrefix = "tokens/"
	// databasesPrefix holds db resources (keyway create -f db.hcl).
	databasesPrefix = "databases/"
	// LocksPrefix holds locks (keyway lock); proxies watch it.
	LocksPrefix = "locks/"
)

// Service holds the auth records.
type Service struct {
	State state.Backend
	// Audit, if set, records each change.
	Audit func(ctx context.Context, e audit.Event)
	// Passwords hashes and checks passwords: bcrypt at cost 11 when nil.
	Passwords Hasher
	// MaxParallelHashes bounds how many password hashes are computed at
	// once; the number of CPUs when zero.
	MaxParallelHashes int

	workOnce sync.Once
	work     *passwordWork
	workErr  error
}

// passwords returns the bounded password hasher, made at first use.
func (s *Service) passwords() (*passwordWork, error) {
	s.workOnce.Do(func() { s.work, s.workErr = newPasswordWork(s.Passwords, s.MaxParallelHashes) })
	return s.work, s.workErr
}

// record audits a change.
func (s *Service) record(ctx context.Context, event, code string, err error, e audit.Event) {
	if s.Audit == nil {
		return
	}
	e.Event, e.Code, e.Success = event, code, err == nil
	if err != nil {
		e.Error = err.Error()
	}
	s.Audit(ctx, e)
}

// getJSON reads a record; found is false when it is absent.
func (s *Service) getJSON(ctx context.Context, key string, v any) (rev int64, found bool, err error) {
	kv, err := s.State.Get(ctx, key)
	if errors.Is(err, state.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return 0, false, fmt.Errorf("decoding %s: %w", key, err)
	}
	return kv.Revision, true, nil
}

// putJSON writes a record under opts' conditions.
func (s *Service) putJSON(ctx context.Context, key string, v any, opts state.PutOptions) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	_, err = s.State.Put(ctx, key, b, opts)
	return err
}

// listJSON decodes every record under prefix with decode.
func (s *Service) listJSON(ctx context.Context, prefix string, decode func([]byte) error) error {
	kvs, err := s.State.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := decode(kv.Value); err != nil {
			return fmt.Errorf("decoding %s: %w", kv.Key, err)
		}
	}
	return nil
}
