package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// ErrLoginFailed is the one answer to a login that failed for a reason
// that could tell a stranger something about an account: an unknown
// user, a user without a password yet, a locked account, a wrong password
// and an invite that is not the user's all read the same.
var ErrLoginFailed = errors.New("the user name, password or invite is not valid")

// LoginError is a failed login. Its text is ErrLoginFailed's; Reason is
// the real cause, for the audit log only.
type LoginError struct {
	Reason string
}

func (e *LoginError) Error() string { return ErrLoginFailed.Error() }

// Is makes errors.Is(err, ErrLoginFailed) true.
func (e *LoginError) Is(target error) bool { return target == ErrLoginFailed }

// Login checks a password, or redeems an invite by setting newPassword.
//
// Every attempt that does not hold the account's secret fails with a
// *LoginError after exactly one password hash, the same work whether the
// account exists or not. The hash is computed once, before the record's
// counters are updated, so a write conflict with a parallel login
// retries only the update. Failed passwords count toward a lockout; the
// lock is audited as user.locked, and the caller hears the same answer
// as for any other failure.
func (s *Service) Login(ctx context.Context, name, password, invite, newPassword string, now time.Time) (User, error) {
	work, err := s.passwords()
	if err != nil {
		return User{}, err
	}
	var u User
	found := false
	if userName.MatchString(name) {
		if _, found, err = s.getJSON(ctx, usersPrefix+name, &u); err != nil {
			return User{}, err
		}
	}
	if invite != "" {
		return s.redeem(ctx, work, u, found, name, invite, newPassword, now)
	}
	return s.checkPassword(ctx, work, u, found, name, password, now)
}

// checkPassword is Login with a password.
func (s *Service) checkPassword(ctx context.Context, work *passwordWork, u User, found bool, name, password string, now time.Time) (User, error) {
	var reason string
	switch {
	case !found:
		reason = "no such user"
	case now.Before(u.LockedUntil):
		reason = lockedReason(u)
	case u.PasswordHash == "":
		reason = "the account has no password yet: its invite was not redeemed"
	}
	hash := u.PasswordHash
	if reason != "" {
		hash = ""
	}
	ok, err := work.compare(ctx, hash, password)
	if err != nil {
		return User{}, err
	}
	if reason != "" {
		return User{}, &LoginError{Reason: reason}
	}

	var fail *LoginError
	locked := false
	u, err = s.updateUser(ctx, name, func(cur *User) bool {
		fail, locked = nil, false
		switch {
		case cur.PasswordHash != hash:
			// The password was set anew while this attempt checked the
			// old one; its answer says nothing about the new one.
			fail = &LoginError{Reason: "the password changed during the login"}
			return false
		case now.Before(cur.LockedUntil):
			fail = &LoginError{Reason: lockedReason(*cur)}
			return false
		case ok:
			if cur.FailedLogins == 0 {
				return false
			}
			cur.FailedLogins = 0
			return true
		}
		cur.FailedLogins++
		fail = &LoginError{Reason: fmt.Sprintf("wrong password (%d of %d before a lock)", cur.FailedLogins, MaxFailedLogins)}
		if cur.FailedLogins >= MaxFailedLogins {
			cur.LockedUntil, cur.FailedLogins, locked = now.Add(LockoutDuration), 0, true
			fail = &LoginError{Reason: "wrong password; " + lockedReason(*cur)}
		}
		return true
	})
	if errors.Is(err, ErrUserNotFound) {
		return User{}, &LoginError{Reason: "the user was removed during the login"}
	}
	if err != nil {
		return User{}, err
	}
	if locked {
		s.record(ctx, audit.UserLocked, "T1004W", nil, audit.Event{Target: name, User: name, Reason: lockedReason(u)})
	}
	if fail != nil {
		return User{}, fail
	}
	return u, nil
}

// lockedReason says why and until when an account is locked.
func lockedReason(u User) string {
	return fmt.Sprintf("the account is locked until %s after %d failed logins", u.LockedUntil.UTC().Format(time.RFC3339), MaxFailedLogins)
}

// redeem is Login with an invite: it sets the user's first password.
func (s *Service) redeem(ctx context.Context, work *passwordWork, u User, found bool, name, invite, newPassword string, now time.Time) (User, error) {
	var reason string
	switch {
	case !found:
		reason = "no such user"
	case u.InviteHash == "" || !sameHash(u.InviteHash, hashSecret(invite)):
		reason = "the invite is not this user's, or was redeemed already"
	case now.Before(u.LockedUntil):
		reason = lockedReason(u)
	}
	if reason != "" {
		if _, err := work.compare(ctx, "", newPassword); err != nil {
			return User{}, err
		}
		return User{}, &LoginError{Reason: reason}
	}
	// Only whoever holds this user's invite gets this far, and may hear
	// why it cannot be redeemed.
	if now.After(u.InviteExpires) {
		return User{}, fmt.Errorf("the invite expired at %s; ask an administrator for a new one", u.InviteExpires.UTC().Format(time.RFC3339))
	}
	if len(newPassword) < MinPasswordLength {
		return User{}, fmt.Errorf("choose a password of at least %d characters", MinPasswordLength)
	}
	newHash, err := work.hash(ctx, newPassword)
	if err != nil {
		return User{}, err
	}
	var fail *LoginError
	redeemed := u.InviteHash
	u, err = s.updateUser(ctx, name, func(cur *User) bool {
		fail = nil
		if cur.InviteHash != redeemed {
			fail = &LoginError{Reason: "the invite was redeemed by a parallel login"}
			return false
		}
		cur.PasswordHash, cur.InviteHash, cur.InviteExpires, cur.FailedLogins = newHash, "", time.Time{}, 0
		return true
	})
	if errors.Is(err, ErrUserNotFound) {
		return User{}, &LoginError{Reason: "the user was removed during the login"}
	}
	if err != nil {
		return User{}, err
	}
	if fail != nil {
		return User{}, fail
	}
	return u, nil
}
