package auth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/keyway-dev/keyway/core/audit"
	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/core/state/embedded"
)

// countingHasher is bcrypt at its lowest cost that counts its calls and
// how many run at once.
type countingHasher struct {
	calls, inFlight, maxInFlight atomic.Int64
	// hold, if set, keeps each call running until it is closed.
	hold chan struct{}
}

func (h *countingHasher) enter() func() {
	h.calls.Add(1)
	n := h.inFlight.Add(1)
	for {
		m := h.maxInFlight.Load()
		if n <= m || h.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if h.hold != nil {
		<-h.hold
	}
	return func() { h.inFlight.Add(-1) }
}

func (h *countingHasher) Hash(p []byte) ([]byte, error) {
	defer h.enter()()
	return bcrypt.GenerateFromPassword(p, bcrypt.MinCost)
}

func (h *countingHasher) Compare(hash, p []byte) error {
	defer h.enter()()
	return bcrypt.CompareHashAndPassword(hash, p)
}

// conflictingBackend answers a write conflict to every other conditional
// write of a user record, as a parallel login's write would cause.
type conflictingBackend struct {
	state.Backend
	puts atomic.Int64
}

func (b *conflictingBackend) Put(ctx context.Context, key string, value []byte, opts state.PutOptions) (int64, error) {
	if strings.HasPrefix(key, usersPrefix) && opts.IfRevision > 0 && b.puts.Add(1)%2 == 1 {
		return 0, state.ErrConflict
	}
	return b.Backend.Put(ctx, key, value, opts)
}

const testPassword = "correct horse battery"

type loginFixture struct {
	s       *Service
	h       *countingHasher
	rec     *auditRecorder
	now     time.Time
	invites map[string]string
}

// newLoginFixture has alice (with a password), bob (invited, no password
// yet) and carol (locked).
func newLoginFixture(t *testing.T, conflicts bool) *loginFixture {
	t.Helper()
	var b state.Backend
	b, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if conflicts {
		b = &conflictingBackend{Backend: b}
	}
	f := &loginFixture{h: &countingHasher{}, rec: &auditRecorder{}, now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), invites: map[string]string{}}
	f.s = &Service{State: b, Audit: f.rec.record, Passwords: f.h}
	ctx := t.Context()
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		inv, err := f.s.AddUser(ctx, User{Name: name, Roles: []string{"access"}}, 0, f.now)
		if err != nil {
			t.Fatal(err)
		}
		f.invites[name] = inv.Secret
	}
	for _, name := range []string{"alice", "carol"} {
		if _, err := f.s.Login(ctx, name, "", f.invites[name], testPassword, f.now); err != nil {
			t.Fatalf("redeeming %s's invite: %v", name, err)
		}
	}
	for range MaxFailedLogins {
		if _, err := f.s.Login(ctx, "carol", "not the password", "", "", f.now); !errors.Is(err, ErrLoginFailed) {
			t.Fatalf("wrong password for carol: %v", err)
		}
	}
	f.h.calls.Store(0)
	return f
}

func TestFailedLoginsAreIndistinguishable(t *testing.T) {
	f := newLoginFixture(t, false)
	tests := []struct {
		name                            string
		user, password, invite, newPass string
		reason                          string
	}{
		{"unknown user", "nobody", testPassword, "", "", "no such user"},
		{"not a user name", "../alice", testPassword, "", "", "no such user"},
		{"no password yet", "bob", testPassword, "", "", "no password yet"},
		{"locked, right password", "carol", testPassword, "", "", "locked until"},
		{"wrong password", "alice", "not the password", "", "", "wrong password"},
		{"another user's invite", "dave", "", f.invites["bob"], "a long enough password", "not this user's"},
		{"an invite for an unknown user", "nobody", "", f.invites["bob"], "a long enough password", "no such user"},
		{"a redeemed invite", "alice", "", f.invites["alice"], "a long enough password", "not this user's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.h.calls.Load()
			_, err := f.s.Login(t.Context(), tt.user, tt.password, tt.invite, tt.newPass, f.now)
			if err == nil || err.Error() != "the user name, password or invite is not valid" || !errors.Is(err, ErrLoginFailed) {
				t.Fatalf("error %v, want the one sentence for every failed login", err)
			}
			var le *LoginError
			if !errors.As(err, &le) || !strings.Contains(le.Reason, tt.reason) {
				t.Fatalf("reason %+v, want one containing %q", le, tt.reason)
			}
			if n := f.h.calls.Load() - before; n != 1 {
				t.Fatalf("%d password hashes for one attempt, want 1", n)
			}
		})
	}
	if _, err := f.s.Login(t.Context(), "alice", testPassword, "", "", f.now); err != nil {
		t.Fatalf("alice's own login after one wrong password: %v", err)
	}
}

func TestFiveWrongPasswordsLockTheAccount(t *testing.T) {
	f := newLoginFixture(t, false)
	ctx := t.Context()
	var locks []audit.Event
	for _, e := range f.rec.events {
		if e.Event == audit.UserLocked {
			locks = append(locks, e)
		}
	}
	if len(locks) != 1 || locks[0].Target != "carol" || !strings.Contains(locks[0].Reason, "locked until 2026-03-02T10:15:00Z") {
		t.Fatalf("user.locked events: %+v", locks)
	}
	_, err := f.s.Login(ctx, "carol", testPassword, "", "", f.now.Add(LockoutDuration-time.Second))
	if !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("the right password while locked: %v", err)
	}
	u, err := f.s.Login(ctx, "carol", testPassword, "", "", f.now.Add(LockoutDuration+time.Second))
	if err != nil || u.Name != "carol" {
		t.Fatalf("the right password after the lock: %+v, %v", u, err)
	}
}

func TestParallelLoginsHashOncePerAttempt(t *testing.T) {
	const n = 12
	tests := []struct {
		name     string
		password string
		// succeed is how many logins must succeed.
		succeed int
	}{
		{"wrong passwords", "not the password", 0},
		{"right passwords", testPassword, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newLoginFixture(t, true)
			ctx := t.Context()
			// One wrong password first, so even right ones have a
			// counter to reset and write.
			if _, err := f.s.Login(ctx, "alice", "not the password", "", "", f.now); !errors.Is(err, ErrLoginFailed) {
				t.Fatal(err)
			}
			f.h.calls.Store(0)
			var wg sync.WaitGroup
			var ok atomic.Int64
			for range n {
				wg.Go(func() {
					_, err := f.s.Login(ctx, "alice", tt.password, "", "", f.now)
					switch {
					case err == nil:
						ok.Add(1)
					case !errors.Is(err, ErrLoginFailed):
						t.Errorf("login: %v", err)
					}
				})
			}
			wg.Wait()
			if got := f.h.calls.Load(); got != n {
				t.Fatalf("%d password hashes for %d logins, want one each", got, n)
			}
			if ok.Load() != int64(tt.succeed) {
				t.Fatalf("%d logins succeeded, want %d", ok.Load(), tt.succeed)
			}
			if f.s.State.(*conflictingBackend).puts.Load() < 2 {
				t.Fatal("no write conflict happened: the test proves nothing")
			}
		})
	}
}

func TestInviteRedemption(t *testing.T) {
	f := newLoginFixture(t, false)
	ctx := t.Context()
	if _, err := f.s.Login(ctx, "bob", "", f.invites["bob"], "short", f.now); err == nil || !strings.Contains(err.Error(), "at least 12 characters") {
		t.Fatalf("a short password: %v", err)
	}
	if _, err := f.s.Login(ctx, "bob", "", f.invites["bob"], "a long enough password", f.now.Add(DefaultInviteTTL+time.Second)); err == nil || !strings.Contains(err.Error(), "the invite expired at") {
		t.Fatalf("an expired invite: %v", err)
	}
	f.h.calls.Store(0)
	if _, err := f.s.Login(ctx, "bob", "", f.invites["bob"], "a long enough password", f.now); err != nil {
		t.Fatalf("redeeming: %v", err)
	}
	if n := f.h.calls.Load(); n != 1 {
		t.Fatalf("%d password hashes for a redemption, want 1", n)
	}
	if _, err := f.s.Login(ctx, "bob", "a long enough password", "", "", f.now); err != nil {
		t.Fatalf("logging in with the new password: %v", err)
	}
}

func TestPasswordHashesAreBounded(t *testing.T) {
	f := newLoginFixture(t, false)
	f.s = &Service{State: f.s.State, Passwords: f.h, MaxParallelHashes: 2}
	if _, err := f.s.passwords(); err != nil {
		t.Fatal(err)
	}
	f.h.maxInFlight.Store(0)
	f.h.hold = make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { _, _ = f.s.Login(t.Context(), "alice", testPassword, "", "", f.now) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.h.inFlight.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(f.h.hold)
	wg.Wait()
	if m := f.h.maxInFlight.Load(); m != 2 {
		t.Fatalf("%d hashes ran at once, want the bound of 2", m)
	}
}
