package auth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/state/embedded"
)

func newHostsService(t *testing.T) *Service {
	t.Helper()
	b, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &Service{State: b}
}

// token creates a join token and returns its secret.
func token(t *testing.T, s *Service, now time.Time) string {
	t.Helper()
	tok, _, err := s.AddToken(context.Background(), "db", DBGrant{Names: []string{"a"}}, time.Hour, "sha256:"+strings.Repeat("0", 64), now)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestJoinHostNamesAreUnique walks a host name through joins: taken,
// refused without spending the token, freed, renewed.
func TestJoinHostNamesAreUnique(t *testing.T) {
	ctx := context.Background()
	s := newHostsService(t)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	if _, err := s.JoinHost(ctx, token(t, s, now), "db-1", time.Hour, now); err != nil {
		t.Fatalf("the first join as db-1: %v", err)
	}
	second := token(t, s, now)
	_, err := s.JoinHost(ctx, second, "db-1", time.Hour, now)
	if !errors.Is(err, ErrHostNameTaken) || !strings.Contains(err.Error(), "keyway rm agent/db-1") {
		t.Fatalf("a second join as db-1: %v; want ErrHostNameTaken saying what to do", err)
	}
	if _, err := s.JoinHost(ctx, second, "db-2", time.Hour, now); err != nil {
		t.Fatalf("the refused join's token under another name: %v", err)
	}
	// A bad token hears about the token, not about the name.
	if _, err := s.JoinHost(ctx, strings.Repeat("x", 32), "db-1", time.Hour, now); err == nil || errors.Is(err, ErrHostNameTaken) {
		t.Fatalf("an unknown token for a taken name: %v; want the token's error", err)
	}
	// A join whose token fails leaves the name free.
	if _, err := s.JoinHost(ctx, second, "db-3", time.Hour, now); err == nil {
		t.Fatal("a used token joined again")
	}
	if _, err := s.JoinHost(ctx, token(t, s, now), "db-3", time.Hour, now); err != nil {
		t.Fatalf("db-3 after a failed join under it: %v", err)
	}
	if err := s.RemoveHost(ctx, "db-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveHost(ctx, "db-1"); err == nil {
		t.Fatal("removing a name no agent holds succeeded")
	}
	if _, err := s.JoinHost(ctx, token(t, s, now), "db-1", time.Hour, now); err != nil {
		t.Fatalf("a join as db-1 after keyway rm agent/db-1: %v", err)
	}
	// An agent that joined before names were kept claims its name at
	// renewal.
	if err := s.RenewHostName(ctx, "legacy", time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JoinHost(ctx, token(t, s, now), "legacy", time.Hour, now); !errors.Is(err, ErrHostNameTaken) {
		t.Fatalf("a join as a renewed agent's name: %v; want ErrHostNameTaken", err)
	}
}

// TestJoinKeepsTheTokensGrant checks that a joined agent's host record
// carries its token's grant, that renewals keep it, and that an agent
// without a record is granted nothing.
func TestJoinKeepsTheTokensGrant(t *testing.T) {
	ctx := context.Background()
	s := newHostsService(t)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	if _, err := s.JoinHost(ctx, token(t, s, now), "db-1", time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewHostName(ctx, "db-1", time.Hour, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	g, err := s.HostGrant(ctx, "db-1")
	if err != nil || g.String() != "names a" {
		t.Fatalf("grant of db-1 after a renewal = %s, %v; want names a", g, err)
	}
	if g, err := s.HostGrant(ctx, "never-joined"); err != nil || !g.IsEmpty() {
		t.Fatalf("grant of an agent without a record = %s, %v; want nothing", g, err)
	}
	if _, _, err := s.AddToken(ctx, "db", DBGrant{}, time.Hour, "sha256:"+strings.Repeat("0", 64), now); err == nil || !strings.Contains(err.Error(), "--db-names") {
		t.Fatalf("a token granting nothing: %v; want a refusal naming --db-names", err)
	}
}

// TestProxyTokensJoinProxies checks that a proxy token joins a host as a
// proxy with no grant, that a db token's host is no proxy, and that a
// proxy token granting databases is refused.
func TestProxyTokensJoinProxies(t *testing.T) {
	ctx := context.Background()
	s := newHostsService(t)
	now := time.Now()
	pin := "sha256:" + strings.Repeat("0", 64)
	if _, _, err := s.AddToken(ctx, TokenProxy, DBGrant{Names: []string{"a"}}, time.Hour, pin, now); err == nil {
		t.Fatal("a proxy token granting databases was made")
	}
	tok, _, err := s.AddToken(ctx, TokenProxy, DBGrant{FirstClaim: true}, time.Hour, pin, now)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	typ, err := s.JoinHost(ctx, secret, "proxy-1", time.Hour, now)
	if err != nil || typ != TokenProxy {
		t.Fatalf("join with a proxy token: type %q, error %v", typ, err)
	}
	if _, err := s.JoinHost(ctx, token(t, s, now), "db-1", time.Hour, now); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"proxy-1": true, "db-1": false, "unknown": false} {
		got, err := s.IsProxy(ctx, name)
		if err != nil || got != want {
			t.Errorf("IsProxy(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if g, err := s.HostGrant(ctx, "proxy-1"); err != nil || !g.IsEmpty() {
		t.Errorf("the proxy holds a grant: %+v, %v", g, err)
	}
}
