package auth

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/state/embedded"
)

// TestLocks stores, lists and removes locks, refuses bad ones with a
// sentence, and lets a lock with a TTL lapse.
func TestLocks(t *testing.T) {
	b, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	s := &Service{State: b}
	ctx := t.Context()
	now := time.Now()
	if _, err := s.AddUser(ctx, User{Name: "alice", Roles: []string{"access"}}, 0, now); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name   string
		target LockTarget
		ttl    time.Duration
		want   string
	}{
		{"no target", LockTarget{}, 0, "name what it locks"},
		{"two targets", LockTarget{User: "alice", DB: "orders"}, 0, "only one"},
		{"unknown user", LockTarget{User: "nobody"}, 0, "nobody"},
		{"unknown role", LockTarget{Role: "ghosts"}, 0, "role ghosts does not exist"},
		{"ttl in the past", LockTarget{User: "alice"}, -time.Hour, "in the past"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.AddLock(ctx, tt.target, "", tt.ttl, now)
			if !errors.Is(err, ErrBadLock) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AddLock: %v, want an invalid lock saying %q", err, tt.want)
			}
		})
	}

	user, err := s.AddLock(ctx, LockTarget{User: "alice"}, "incident", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddLock(ctx, LockTarget{Role: "editor"}, "", time.Second, now); err != nil {
		t.Fatal(err)
	}
	locks, err := s.Locks(ctx)
	if err != nil || len(locks) != 2 {
		t.Fatalf("Locks: %v %v", locks, err)
	}
	if !user.Covers("alice", nil, "", "") || user.Covers("bob", []string{"access"}, "db", "agent") {
		t.Fatal("a user lock covers the wrong identities")
	}
	role := locks[0]
	if role.Target.Role == "" {
		role = locks[1]
	}
	if !role.Covers("bob", []string{"access", "editor"}, "", "") || role.Covers("bob", []string{"access"}, "", "") {
		t.Fatal("a role lock covers the wrong identities")
	}
	if got := user.Sentence(); got != "keyway: access is locked for user alice by an administrator: incident" {
		t.Fatalf("sentence %q", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		locks, err = s.Locks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(locks) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock with a TTL of 1 s did not lapse")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.RemoveLock(ctx, user.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveLock(ctx, user.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing it again: %v", err)
	}
}
