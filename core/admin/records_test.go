package admin

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/state/embedded"
)

// recordsOnly is a Source whose only working part is the auth role's
// records; a nil svc is a process without the auth role.
type recordsOnly struct{ svc *auth.Service }

func (recordsOnly) Plugins(context.Context) []Plugin { return nil }
func (recordsOnly) CA(context.Context) (authority.CA, error) {
	return nil, errors.New("the CA plugin is not running")
}
func (s recordsOnly) Auth() *auth.Service { return s.svc }
func (recordsOnly) HostPin(context.Context) (string, error) {
	return "sha256:" + strings.Repeat("ab", 32), nil
}

// newRecords serves a fresh auth role's records on an admin socket.
func newRecords(t *testing.T) *Client {
	t.Helper()
	b, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return serve(t, recordsOnly{svc: &auth.Service{State: b}})
}

// TestUsersRoundTrip adds, lists, updates and removes a user through the
// socket; an update's unset lists stay and its empty ones clear.
func TestUsersRoundTrip(t *testing.T) {
	c := newRecords(t)
	ctx := t.Context()
	inv, err := c.AddUser(ctx, UserRequest{Name: "alice", Roles: []string{"access"}, DBUsers: []string{"app"}, DBNames: []string{"shop"}, InviteTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Invite == "" || time.Until(inv.Expires) < 59*time.Minute || inv.User.InviteHash != redactedHash || inv.User.PasswordHash != "" {
		t.Fatalf("invite %+v", inv)
	}
	u, err := c.UpdateUser(ctx, UserRequest{Name: "alice", Roles: []string{"access", "editor"}, DBNames: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u.Roles, []string{"access", "editor"}) || !reflect.DeepEqual(u.DBUsers, []string{"app"}) || len(u.DBNames) != 0 {
		t.Fatalf("updated %+v", u)
	}
	users, err := c.Users(ctx)
	if err != nil || len(users) != 1 || users[0].Name != "alice" || users[0].Created.IsZero() {
		t.Fatalf("users %+v, %v", users, err)
	}
	if err := c.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if users, err := c.Users(ctx); err != nil || len(users) != 0 {
		t.Fatalf("after removal: %+v, %v", users, err)
	}
}

// TestResourcesRoundTrip stores a role and a db resource and reads them
// back field for field.
func TestResourcesRoundTrip(t *testing.T) {
	c := newRecords(t)
	ctx := t.Context()
	role := access.Role{
		Name: "dev", SpiffeIDs: []string{"spiffe://example/bot/*"},
		Allow:   access.Rule{DBLabels: map[string][]string{"env": {"dev", "stag*"}}, DBUsers: []string{"app_*"}, DBNames: []string{"app"}},
		Deny:    access.Rule{DBUsers: []string{"postgres"}, Admin: true},
		Options: access.RoleOptions{IdleTimeout: "15m", MaxSessionTTL: "8h", MaxConnections: 3},
	}
	if err := c.PutRole(ctx, role); err != nil {
		t.Fatal(err)
	}
	roles, err := c.Roles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got *access.Role
	for i := range roles {
		if roles[i].Name == "dev" {
			got = &roles[i]
		}
	}
	if got == nil || !reflect.DeepEqual(*got, role) {
		t.Fatalf("role %+v, want %+v", got, role)
	}

	idle := 4
	db := config.Database{
		Name: "orders", Description: "the shop's orders", Protocol: "postgres", URI: "orders.internal:5432",
		Labels: map[string]string{"env": "dev"}, Mode: "verify-ca", ServerName: "orders.internal", TrustSystemCertPool: true,
		Pool: &config.Pool{Mode: "session", MaxIdle: &idle, IdleTimeout: "1m"},
	}
	if err := c.PutDatabase(ctx, db); err != nil {
		t.Fatal(err)
	}
	dbs, err := c.Databases(ctx)
	if err != nil || len(dbs) != 1 || !reflect.DeepEqual(dbs[0], db) {
		t.Fatalf("db resources %+v, %v; want %+v", dbs, err, db)
	}
	if err := c.RemoveDatabase(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveRole(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
}

// TestTokensLocksAndBots runs the other records' calls through the
// socket.
func TestTokensLocksAndBots(t *testing.T) {
	c := newRecords(t)
	ctx := t.Context()
	tok, err := c.AddToken(ctx, TokenRequest{Type: "db", TTL: time.Hour, DBNames: []string{"orders"}, DBLabels: []string{"env=dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Token, "kw1.") || tok.Record.Grant == nil || !reflect.DeepEqual(tok.Record.Grant.Labels, access.LabelSelector{"env": {"dev"}}) {
		t.Fatalf("token %+v", tok)
	}
	if toks, err := c.Tokens(ctx); err != nil || len(toks) != 1 || toks[0].ID != tok.Record.ID {
		t.Fatalf("tokens %+v, %v", toks, err)
	}
	if err := c.RemoveToken(ctx, tok.Record.ID); err != nil {
		t.Fatal(err)
	}

	if _, err := c.AddUser(ctx, UserRequest{Name: "alice", Roles: []string{"access"}}); err != nil {
		t.Fatal(err)
	}
	l, err := c.AddLock(ctx, LockRequest{Target: auth.LockTarget{User: "alice"}, Message: "incident 7", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if l.ID == "" || l.Target.User != "alice" || time.Until(l.Expires) < 59*time.Minute {
		t.Fatalf("lock %+v", l)
	}
	if locks, err := c.Locks(ctx); err != nil || len(locks) != 1 || locks[0].Message != "incident 7" {
		t.Fatalf("locks %+v, %v", locks, err)
	}
	if err := c.RemoveLock(ctx, l.ID); err != nil {
		t.Fatal(err)
	}

	b, err := c.AddBot(ctx, BotRequest{Name: "ci", Roles: []string{"access"}, DBUsers: []string{"*"}})
	if err != nil || b.Name != "ci" || b.Created.IsZero() {
		t.Fatalf("bot %+v, %v", b, err)
	}
	sub, err := c.Subject(ctx, SubjectRequest{Kind: "bot", Name: "ci", Narrowing: auth.Narrowing{DBUsers: []string{"app"}}})
	if err != nil || !reflect.DeepEqual(sub.DBUsers, []string{"app"}) || !reflect.DeepEqual(sub.Roles, []string{"access"}) {
		t.Fatalf("subject %+v, %v", sub, err)
	}
	if err := c.RemoveBot(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
}

// TestRecordsErrors checks that refusals reach the client with their
// code and their sentence.
func TestRecordsErrors(t *testing.T) {
	c := newRecords(t)
	ctx := t.Context()
	if _, err := c.AddUser(ctx, UserRequest{Name: "alice", Roles: []string{"access"}}); err != nil {
		t.Fatal(err)
	}
	noAuth := serve(t, recordsOnly{})
	for _, tt := range []struct {
		name string
		call func(context.Context) error
		code codes.Code
		want string
	}{
		{"user exists", func(ctx context.Context) error {
			_, err := c.AddUser(ctx, UserRequest{Name: "alice"})
			return err
		}, codes.AlreadyExists, "user alice: user already exists"},
		{"no such user", func(ctx context.Context) error { return c.RemoveUser(ctx, "bob") }, codes.NotFound, "user bob: no such user"},
		{"bad name", func(ctx context.Context) error {
			_, err := c.AddUser(ctx, UserRequest{Name: "Bob!"})
			return err
		}, codes.InvalidArgument, "not a valid user name"},
		{"built-in role", func(ctx context.Context) error { return c.RemoveRole(ctx, "editor") }, codes.InvalidArgument, "built in"},
		{"no such agent", func(ctx context.Context) error { return c.RemoveAgent(ctx, "a1") }, codes.NotFound, "no joined agent named a1"},
		{"bad label", func(ctx context.Context) error {
			_, err := c.AddToken(ctx, TokenRequest{Type: "db", DBLabels: []string{"env"}})
			return err
		}, codes.InvalidArgument, "not KEY=VALUE"},
		{"no auth role", func(ctx context.Context) error {
			_, err := noAuth.Users(ctx)
			return err
		}, codes.FailedPrecondition, "this keyway process has no auth role"},
		{"no CA", func(ctx context.Context) error {
			_, err := c.Authorities(ctx)
			return err
		}, codes.Unavailable, "the CA plugin is not running"},
		{"no process report", func(ctx context.Context) error {
			_, err := c.Process(ctx)
			return err
		}, codes.Unimplemented, "does not report on itself"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t.Context())
			if status.Code(err) != tt.code || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v (%s), want %s saying %q", err, status.Code(err), tt.code, tt.want)
			}
		})
	}
}
