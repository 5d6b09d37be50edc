package auth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/state/embedded"
)

// TestErrorKinds checks that the refusals of the operations the admin API
// runs match their kind with errors.Is, and no other kind, and keep
// their own text.
func TestErrorKinds(t *testing.T) {
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
	if err := s.AddBot(ctx, Bot{Name: "ci", Roles: []string{"access"}}, now); err != nil {
		t.Fatal(err)
	}
	kinds := []error{ErrNotFound, ErrExists, ErrInvalid}
	for _, tt := range []struct {
		name string
		op   func(context.Context) error
		kind error
		text string
	}{
		{"user exists", func(ctx context.Context) error {
			_, err := s.AddUser(ctx, User{Name: "alice"}, 0, now)
			return err
		}, ErrExists, "user alice: user already exists"},
		{"bad user name", func(ctx context.Context) error {
			_, err := s.AddUser(ctx, User{Name: "Alice!"}, 0, now)
			return err
		}, ErrInvalid, "is not a valid user name"},
		{"no such user", func(ctx context.Context) error { return s.RemoveUser(ctx, "bob") }, ErrNotFound, "user bob: no such user"},
		{"update no such user", func(ctx context.Context) error {
			_, err := s.UpdateUser(ctx, "bob", []string{"access"}, nil, nil)
			return err
		}, ErrNotFound, "no such user"},
		{"bot exists", func(ctx context.Context) error { return s.AddBot(ctx, Bot{Name: "ci", Roles: []string{"access"}}, now) }, ErrExists, "the bot ci already exists"},
		{"bot without roles", func(ctx context.Context) error { return s.AddBot(ctx, Bot{Name: "cd"}, now) }, ErrInvalid, "needs at least one role"},
		{"no such bot", func(ctx context.Context) error { return s.RemoveBot(ctx, "cd") }, ErrNotFound, "bot cd: no such bot"},
		{"token type", func(ctx context.Context) error {
			_, _, err := s.AddToken(ctx, "node", DBGrant{Names: []string{"a"}}, 0, "", now)
			return err
		}, ErrInvalid, `unknown token type "node"`},
		{"empty grant", func(ctx context.Context) error {
			_, _, err := s.AddToken(ctx, "db", DBGrant{}, 0, "", now)
			return err
		}, ErrInvalid, "must grant the databases"},
		{"bad grant label", func(context.Context) error {
			_, err := ParseGrant(nil, []string{"env"})
			return err
		}, ErrInvalid, "is not KEY=VALUE"},
		{"no such token", func(ctx context.Context) error { return s.RemoveToken(ctx, "0123456789ab") }, ErrNotFound, "no join token with id"},
		{"built-in role", func(ctx context.Context) error { return s.PutRole(ctx, access.Role{Name: "editor"}) }, ErrInvalid, "built in"},
		{"no such role", func(ctx context.Context) error { return s.RemoveRole(ctx, "dev") }, ErrNotFound, "no role named dev"},
		{"bad db resource", func(ctx context.Context) error { return s.PutDatabase(ctx, config.Database{Name: "orders"}) }, ErrInvalid, "orders"},
		{"no such db resource", func(ctx context.Context) error { return s.RemoveDatabase(ctx, "orders") }, ErrNotFound, "no db resource named orders"},
		{"no such agent", func(ctx context.Context) error { return s.RemoveHost(ctx, "a1") }, ErrNotFound, "no joined agent named a1"},
		{"bad lock", func(ctx context.Context) error {
			_, err := s.AddLock(ctx, LockTarget{}, "", 0, now)
			return err
		}, ErrInvalid, "invalid lock: name what it locks"},
		{"no such lock", func(ctx context.Context) error { return s.RemoveLock(ctx, "feed") }, ErrNotFound, "no lock has the id feed"},
		{"widened subject", func(ctx context.Context) error {
			_, err := s.ResolveSubject(ctx, "bot", "ci", Narrowing{Roles: []string{"editor"}})
			return err
		}, ErrInvalid, "may only narrow"},
		{"unknown subject", func(ctx context.Context) error {
			_, err := s.ResolveSubject(ctx, "user", "bob", Narrowing{})
			return err
		}, ErrNotFound, "keyway signs only stored users"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %v, want one saying %q", err, tt.text)
			}
			for _, k := range kinds {
				if got, want := errors.Is(err, k), k == tt.kind; got != want {
					t.Errorf("errors.Is(%q, %v) = %v", err, k, got)
				}
			}
		})
	}
}
