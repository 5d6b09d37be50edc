package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/state"
)

// LockTarget is what a lock covers: exactly one of its fields is set.
type LockTarget struct {
	User  string `json:"user,omitempty"`
	Role  string `json:"role,omitempty"`
	DB    string `json:"db,omitempty"`
	Agent string `json:"agent,omitempty"`
}

// String names the target, as "user alice".
func (t LockTarget) String() string {
	switch {
	case t.User != "":
		return "user " + t.User
	case t.Role != "":
		return "role " + t.Role
	case t.DB != "":
		return "database " + t.DB
	case t.Agent != "":
		return "agent " + t.Agent
	}
	return "nothing"
}

// count is how many fields are set.
func (t LockTarget) count() int {
	n := 0
	for _, v := range []string{t.User, t.Role, t.DB, t.Agent} {
		if v != "" {
			n++
		}
	}
	return n
}

// Lock refuses new sessions, logins and certificates of its target and
// ends the target's live sessions, until it is removed or expires.
type Lock struct {
	ID      string     `json:"id"`
	Target  LockTarget `json:"target"`
	Message string     `json:"message,omitempty"`
	Created time.Time  `json:"created"`
	// Expires is zero for a lock that lasts until unlocked.
	Expires time.Time `json:"expires,omitzero"`
}

// Covers reports whether the lock applies to a session or request of
// user (with roles) on database db through agent ("" for any).
func (l Lock) Covers(user string, roles []string, db, agent string) bool {
	t := l.Target
	switch {
	case t.User != "":
		return t.User == user
	case t.Role != "":
		for _, r := range roles {
			if r == t.Role {
				return true
			}
		}
		return false
	case t.DB != "":
		return db != "" && t.DB == db
	case t.Agent != "":
		return agent != "" && t.Agent == agent
	}
	return false
}

// Sentence is what a client whose access the lock takes is told.
func (l Lock) Sentence() string {
	s := "keyway: access is locked for " + l.Target.String() + " by an administrator"
	if l.Message != "" {
		s += ": " + l.Message
	}
	return s
}

// ErrBadLock is wrapped by errors about a lock request.
var ErrBadLock = WithKind(ErrInvalid, errors.New("invalid lock"))

// AddLock stores a lock for ttl (0: until unlocked). A user or role it
// names must exist; the lock's id is returned in it.
func (s *Service) AddLock(ctx context.Context, target LockTarget, message string, ttl time.Duration, now time.Time) (Lock, error) {
	l, err := s.addLock(ctx, target, message, ttl, now)
	s.record(ctx, audit.LockCreate, "T1010I", err, audit.Event{Target: target.String(), Reason: message})
	return l, err
}

func (s *Service) addLock(ctx context.Context, target LockTarget, message string, ttl time.Duration, now time.Time) (Lock, error) {
	switch {
	case target.count() == 0:
		return Lock{}, fmt.Errorf("%w: name what it locks with one of --user, --role, --db or --agent", ErrBadLock)
	case target.count() > 1:
		return Lock{}, fmt.Errorf("%w: a lock covers one target; give only one of --user, --role, --db or --agent", ErrBadLock)
	case ttl < 0:
		return Lock{}, fmt.Errorf("%w: its TTL %s is in the past", ErrBadLock, ttl)
	case len(message) > 1024:
		return Lock{}, fmt.Errorf("%w: its message is longer than 1024 bytes", ErrBadLock)
	}
	if target.User != "" {
		if _, err := s.GetUser(ctx, target.User); err != nil {
			return Lock{}, fmt.Errorf("%w: %w", ErrBadLock, err)
		}
	}
	if target.Role != "" {
		roles, err := s.Roles(ctx)
		if err != nil {
			return Lock{}, err
		}
		if !hasRole(roles, target.Role) {
			return Lock{}, fmt.Errorf("%w: role %s does not exist", ErrBadLock, target.Role)
		}
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Lock{}, fmt.Errorf("making a lock id: %w", err)
	}
	l := Lock{ID: hex.EncodeToString(id[:]), Target: target, Message: strings.TrimSpace(message), Created: now.UTC()}
	if ttl > 0 {
		l.Expires = now.Add(ttl).UTC()
	}
	if err := s.putJSON(ctx, LocksPrefix+l.ID, l, state.PutOptions{TTL: ttl, IfAbsent: true}); err != nil {
		return Lock{}, fmt.Errorf("storing the lock: %w", err)
	}
	return l, nil
}

// Locks lists the locks in force, oldest first. An error means the
// locks are unknown: callers fail closed.
func (s *Service) Locks(ctx context.Context) ([]Lock, error) {
	return ListLocks(ctx, s.State)
}

// ListLocks reads the locks in force from a state backend.
func ListLocks(ctx context.Context, st state.Backend) ([]Lock, error) {
	kvs, err := st.List(ctx, LocksPrefix)
	if err != nil {
		return nil, fmt.Errorf("reading the locks: %w", err)
	}
	out := make([]Lock, 0, len(kvs))
	for _, kv := range kvs {
		var l Lock
		if err := json.Unmarshal(kv.Value, &l); err != nil {
			return nil, fmt.Errorf("decoding lock %s: %w", kv.Key, err)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// RemoveLock deletes a lock.
func (s *Service) RemoveLock(ctx context.Context, id string) error {
	var l Lock
	_, found, err := s.getJSON(ctx, LocksPrefix+id, &l)
	if err == nil && !found {
		err = WithKind(ErrNotFound, fmt.Errorf("no lock has the id %s (keyway locks ls lists them)", id))
	}
	if err == nil {
		err = s.State.Delete(ctx, LocksPrefix+id, 0)
	}
	s.record(ctx, audit.LockDelete, "T1011I", err, audit.Event{Target: l.Target.String(), Reason: "unlock " + id})
	return err
}

func hasRole(roles []access.Role, name string) bool {
	for _, r := range roles {
		if r.Name == name {
			return true
		}
	}
	return false
}
