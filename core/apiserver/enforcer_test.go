package apiserver

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/state/embedded"
	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// recordingEnder records what it is asked to end; local lists the
// sessions this process's plugin serves.
type recordingEnder struct {
	ended map[string]sdk.EndReason
	local map[string]bool
}

func (r *recordingEnder) EndSessions(_ context.Context, _, _ string, ids []string, why sdk.EndReason) error {
	for _, id := range ids {
		r.ended[id] = why
	}
	return nil
}

func (r *recordingEnder) LocalSessions(context.Context, string) (map[string]bool, error) {
	return r.local, nil
}

// TestEnforcerEndsWhatLostItsAccess checks each reason a session ends
// for, that others go on, and that sessions which ended by themselves
// are forgotten.
func TestEnforcerEndsWhatLostItsAccess(t *testing.T) {
	b, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx := t.Context()
	now := time.Now()
	s := &Server{Auth: &auth.Service{State: b}, Live: NewLiveSessions(), Now: func() time.Time { return now }}
	if _, err := s.Auth.AddLock(ctx, auth.LockTarget{Agent: "db-7"}, "moving racks", 0, now); err != nil {
		t.Fatal(err)
	}
	ender := &recordingEnder{ended: map[string]sdk.EndReason{}, local: map[string]bool{"ok": true, "expired": true}}
	e := &Enforcer{S: s, Ender: ender, Logger: hclog.NewNullLogger()}
	e.changed(ctx) // users and roles as they are now were decided on

	pg := sdk.Database{Name: "orders", Protocol: "postgres"}
	alice := identity.Identity{Kind: identity.KindUser, Name: "alice", Roles: []string{"access"}}
	old := now.Add(-time.Minute)
	for _, ls := range []LiveSession{
		{ID: "ok", Identity: alice, Database: pg, NotAfter: now.Add(time.Hour)},
		{ID: "expired", Identity: alice, Database: pg, NotAfter: now.Add(-time.Second)},
		{ID: "on-db-7", Agent: "db-7", Identity: alice, Database: pg, NotAfter: now.Add(time.Hour)},
		{ID: "gone", Identity: alice, Database: pg, NotAfter: now.Add(time.Hour)},
	} {
		s.Live.add(ls, old)
	}
	s.Grants = NewGrants()
	s.Grants.Add(Grant{SessionID: "on-db-7", Agent: "db-7"})

	e.Check(ctx)
	if got := ender.ended["expired"]; got.Kind != sdk.EndExpired {
		t.Fatalf("the expired session ended with %+v", got)
	}
	if got := ender.ended["on-db-7"]; got.Kind != sdk.EndLocked || got.Message != "keyway: access is locked for agent db-7 by an administrator: moving racks" {
		t.Fatalf("the locked agent's session ended with %+v", got)
	}
	if _, ended := ender.ended["ok"]; ended {
		t.Fatal("a session with its access intact was ended")
	}
	var left []string
	for _, ls := range s.Live.snapshot() {
		left = append(left, ls.ID)
	}
	if !slices.Equal(left, []string{"ok"}) {
		t.Fatalf("sessions held after the check: %v, want only ok", left)
	}
}
