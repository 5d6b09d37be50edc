package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/state"
)

// Login policy.
const (
	// MaxFailedLogins in a row lock an account for LockoutDuration.
	MaxFailedLogins = 5
	LockoutDuration = 15 * time.Minute
	// MinPasswordLength is enforced when a password is chosen.
	MinPasswordLength = 12
	// DefaultInviteTTL is how long an invite can be redeemed.
	DefaultInviteTTL = 24 * time.Hour
	bcryptCost       = 11
)

// Errors of user operations; their text is meant for the person asking.
var (
	ErrUserExists   = WithKind(ErrExists, errors.New("user already exists"))
	ErrUserNotFound = WithKind(ErrNotFound, errors.New("no such user"))
)

var userName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// User is a person's record.
type User struct {
	Name    string    `json:"name"`
	Roles   []string  `json:"roles"`
	DBUsers []string  `json:"db_users"`
	DBNames []string  `json:"db_names"`
	Created time.Time `json:"created"`

	PasswordHash  string    `json:"password_hash,omitempty"`
	InviteHash    string    `json:"invite_hash,omitempty"`
	InviteExpires time.Time `json:"invite_expires,omitempty"`
	FailedLogins  int       `json:"failed_logins,omitempty"`
	LockedUntil   time.Time `json:"locked_until,omitempty"`
}

// Invite is a one-time secret with which a new user sets a password.
type Invite struct {
	Secret  string
	Expires time.Time
}

// AddUser creates a user with an invite.
func (s *Service) AddUser(ctx context.Context, u User, inviteTTL time.Duration, now time.Time) (Invite, error) {
	if !userName.MatchString(u.Name) {
		return Invite{}, WithKind(ErrInvalid, fmt.Errorf("%q is not a valid user name: use lower-case letters, digits, '.', '_' and '-'", u.Name))
	}
	if inviteTTL <= 0 {
		inviteTTL = DefaultInviteTTL
	}
	inv := Invite{Secret: newSecret(16), Expires: now.Add(inviteTTL)}
	u.Created, u.InviteHash, u.InviteExpires, u.PasswordHash = now, hashSecret(inv.Secret), inv.Expires, ""
	err := s.putJSON(ctx, usersPrefix+u.Name, u, state.PutOptions{IfAbsent: true})
	if errors.Is(err, state.ErrConflict) {
		err = fmt.Errorf("user %s: %w", u.Name, ErrUserExists)
	}
	s.record(ctx, audit.UserCreate, "T1001I", err, audit.Event{Target: u.Name})
	if err != nil {
		return Invite{}, err
	}
	return inv, nil
}

// GetUser returns a user.
func (s *Service) GetUser(ctx context.Context, name string) (User, error) {
	var u User
	_, found, err := s.getJSON(ctx, usersPrefix+name, &u)
	if err != nil {
		return User{}, err
	}
	if !found {
		return User{}, fmt.Errorf("user %s: %w", name, ErrUserNotFound)
	}
	return u, nil
}

// ListUsers returns every user, sorted by name.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	err := s.listJSON(ctx, usersPrefix, func(b []byte) error {
		var u User
		if err := jsonUnmarshal(b, &u); err != nil {
			return err
		}
		out = append(out, u)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// RemoveUser deletes a user.
func (s *Service) RemoveUser(ctx context.Context, name string) error {
	err := s.State.Delete(ctx, usersPrefix+name, 0)
	if errors.Is(err, state.ErrNotFound) {
		err = fmt.Errorf("user %s: %w", name, ErrUserNotFound)
	}
	s.record(ctx, audit.UserDelete, "T1003I", err, audit.Event{Target: name})
	return err
}

// UpdateUser changes a user's roles and traits; nil leaves a list as it
// is.
func (s *Service) UpdateUser(ctx context.Context, name string, roles, dbUsers, dbNames []string) (User, error) {
	u, err := s.modifyUser(ctx, name, func(u *User) error {
		if roles != nil {
			u.Roles = roles
		}
		if dbUsers != nil {
			u.DBUsers = dbUsers
		}
		if dbNames != nil {
			u.DBNames = dbNames
		}
		return nil
	})
	s.record(ctx, audit.UserUpdate, "T1002I", err, audit.Event{Target: name})
	return u, err
}

// modifyUser applies f to a user with optimistic concurrency.
func (s *Service) modifyUser(ctx context.Context, name string, f func(*User) error) (User, error) {
	var ferr error
	u, err := s.updateUser(ctx, name, func(u *User) bool {
		ferr = f(u)
		return ferr == nil
	})
	if ferr != nil {
		return User{}, ferr
	}
	return u, err
}

// updateUser applies f to the latest record of a user and writes it back
// if f reports a change, reading and applying again after a write
// conflict; f must therefore be cheap and free of side effects.
func (s *Service) updateUser(ctx context.Context, name string, f func(*User) bool) (User, error) {
	for {
		var u User
		rev, found, err := s.getJSON(ctx, usersPrefix+name, &u)
		if err != nil {
			return User{}, err
		}
		if !found {
			return User{}, fmt.Errorf("user %s: %w", name, ErrUserNotFound)
		}
		if !f(&u) {
			return u, nil
		}
		err = s.putJSON(ctx, usersPrefix+name, u, state.PutOptions{IfRevision: rev})
		if errors.Is(err, state.ErrConflict) {
			continue
		}
		return u, err
	}
}
