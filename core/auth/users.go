package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"golang.org/x/crypto/bcrypt"

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
	ErrUserExists     = errors.New("user already exists")
	ErrUserNotFound   = errors.New("no such user")
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrInviteNeeded   = errors.New("this account has no password yet: redeem the invite from keyway users add")
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
		return Invite{}, fmt.Errorf("%q is not a valid user name: use lower-case letters, digits, '.', '_' and '-'", u.Name)
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
	for {
		var u User
		rev, found, err := s.getJSON(ctx, usersPrefix+name, &u)
		if err != nil {
			return User{}, err
		}
		if !found {
			return User{}, fmt.Errorf("user %s: %w", name, ErrUserNotFound)
		}
		if err := f(&u); err != nil {
			return User{}, err
		}
		err = s.putJSON(ctx, usersPrefix+name, u, state.PutOptions{IfRevision: rev})
		if errors.Is(err, state.ErrConflict) {
			continue
		}
		return u, err
	}
}

// Login checks a password, or redeems an invite by setting newPassword.
// Failed attempts count toward a lockout, which the error announces.
func (s *Service) Login(ctx context.Context, name, password, invite, newPassword string, now time.Time) (User, error) {
	var loginErr error
	u, err := s.modifyUser(ctx, name, func(u *User) error {
		loginErr = nil
		if now.Before(u.LockedUntil) {
			loginErr = fmt.Errorf("account %s is locked after %d failed logins until %s; wait or ask an administrator", name, MaxFailedLogins, u.LockedUntil.UTC().Format(time.RFC3339))
			return nil
		}
		if invite != "" {
			return redeem(u, invite, newPassword, now)
		}
		if u.PasswordHash == "" {
			loginErr = ErrInviteNeeded
			return nil
		}
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
			u.FailedLogins++
			loginErr = ErrBadCredentials
			if u.FailedLogins >= MaxFailedLogins {
				u.LockedUntil, u.FailedLogins = now.Add(LockoutDuration), 0
				loginErr = fmt.Errorf("%w; account %s is now locked for %s after %d failed logins", ErrBadCredentials, name, LockoutDuration, MaxFailedLogins)
			}
			return nil
		}
		u.FailedLogins = 0
		return nil
	})
	if errors.Is(err, ErrUserNotFound) {
		// Do not tell strangers which accounts exist.
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if loginErr != nil {
		return User{}, loginErr
	}
	return u, nil
}

func redeem(u *User, invite, newPassword string, now time.Time) error {
	if u.InviteHash == "" || !sameHash(u.InviteHash, hashSecret(invite)) {
		return errors.New("the invite is not valid for this user (it may have been used already)")
	}
	if now.After(u.InviteExpires) {
		return fmt.Errorf("the invite expired at %s; ask an administrator for a new one", u.InviteExpires.UTC().Format(time.RFC3339))
	}
	if len(newPassword) < MinPasswordLength {
		return fmt.Errorf("choose a password of at least %d characters", MinPasswordLength)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(newPassword), bcryptCost)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	u.PasswordHash, u.InviteHash, u.InviteExpires, u.FailedLogins = string(h), "", time.Time{}, 0
	return nil
}
