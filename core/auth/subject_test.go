package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestResolveSubject signs stored users and bots only, and lets a
// request take roles and traits away but never add them.
func TestResolveSubject(t *testing.T) {
	ctx := context.Background()
	s := newHostsService(t)
	now := time.Now()
	if _, err := s.AddUser(ctx, User{Name: "alice", Roles: []string{"access", "editor"}, DBUsers: []string{"*"}, DBNames: []string{"app"}}, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBot(ctx, Bot{Name: "ci", Roles: []string{"access"}, DBUsers: []string{"ci"}}, now); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		kind, who string
		n         Narrowing
		wantRoles []string
		wantUsers []string
		wantErr   string
	}{
		{"stored as is", "user", "alice", Narrowing{}, []string{"access", "editor"}, []string{"*"}, ""},
		{"fewer roles", "user", "alice", Narrowing{Roles: []string{"access"}}, []string{"access"}, []string{"*"}, ""},
		{"a role not held", "user", "alice", Narrowing{Roles: []string{"admin"}}, nil, nil, `does not hold the role "admin" (it holds: access,editor)`},
		{"a db user under *", "user", "alice", Narrowing{DBUsers: []string{"postgres"}}, []string{"access", "editor"}, []string{"postgres"}, ""},
		{"a db name not held", "user", "alice", Narrowing{DBNames: []string{"other"}}, nil, nil, `logical database "other"`},
		{"unknown user", "user", "ghost", Narrowing{}, nil, nil, "keyway users add ghost"},
		{"bot", "bot", "ci", Narrowing{}, []string{"access"}, []string{"ci"}, ""},
		{"bot widened", "bot", "ci", Narrowing{DBUsers: []string{"postgres"}}, nil, nil, `database user "postgres"`},
		{"unknown bot", "bot", "ghost", Narrowing{}, nil, nil, "keyway bots add ghost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := s.ResolveSubject(ctx, tt.kind, tt.who, tt.n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveSubject = %+v, %v; want an error containing %q", sub, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(sub.Roles, tt.wantRoles) || !slices.Equal(sub.DBUsers, tt.wantUsers) {
				t.Fatalf("ResolveSubject = %+v, %v; want roles %v, db users %v", sub, err, tt.wantRoles, tt.wantUsers)
			}
		})
	}
	if err := s.RemoveBot(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveSubject(ctx, "bot", "ci", Narrowing{}); !errors.Is(err, ErrBotNotFound) {
		t.Fatalf("a removed bot: %v", err)
	}
}
