package apiserver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/access"
	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/state/embedded"
)

// TestLoginCertificatesFollowMaxSessionTTL checks the lifetime a login
// signs: the smallest max_session_ttl of the user's roles, never more
// than UserCertTTL, and a refusal when the roles cannot be read.
func TestLoginCertificatesFollowMaxSessionTTL(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &auth.Service{State: st}
	for name, ttl := range map[string]string{"short": "1h", "long": "48h"} {
		r := access.Role{Name: name, Allow: access.Rule{Admin: true}, Options: access.RoleOptions{MaxSessionTTL: ttl}}
		if err := svc.PutRole(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Auth: svc}
	tests := []struct {
		held []string
		want time.Duration
	}{
		{[]string{"access"}, UserCertTTL},
		{[]string{"access", "short"}, time.Hour},
		{[]string{"long"}, UserCertTTL},
		{[]string{"long", "short"}, time.Hour},
	}
	for _, tt := range tests {
		if got, err := s.userCertTTL(t.Context(), tt.held); err != nil || got != tt.want {
			t.Fatalf("userCertTTL(%v) = %s, %v; want %s", tt.held, got, err, tt.want)
		}
	}
	_ = st.Close()
	if _, err := s.userCertTTL(t.Context(), []string{"access"}); err == nil {
		t.Fatal("with the roles unreadable, a login certificate was given a lifetime")
	}
}
