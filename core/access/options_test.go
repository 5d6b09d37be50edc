package access

import (
	"testing"
	"time"
)

func TestSessionTTLCap(t *testing.T) {
	roles := []Role{
		{Name: "access"},
		{Name: "short", Options: RoleOptions{MaxSessionTTL: "1h"}},
		{Name: "long", Options: RoleOptions{MaxSessionTTL: "8h"}},
		{Name: "broken", Options: RoleOptions{MaxSessionTTL: "soon"}},
	}
	tests := []struct {
		held   []string
		want   time.Duration
		wantBy string
	}{
		{[]string{"access"}, 0, ""},
		{[]string{"access", "long"}, 8 * time.Hour, "long"},
		{[]string{"long", "short"}, time.Hour, "short"},
		{[]string{"broken"}, 0, ""},
		{[]string{"unknown"}, 0, ""},
	}
	for _, tt := range tests {
		got, by := SessionTTLCap(roles, tt.held)
		if got != tt.want || by != tt.wantBy {
			t.Fatalf("SessionTTLCap(%v) = %s by %q, want %s by %q", tt.held, got, by, tt.want, tt.wantBy)
		}
	}
}

func TestMaxConnections(t *testing.T) {
	roles := []Role{
		{Name: "access"},
		{Name: "pair", Options: RoleOptions{MaxConnections: 2}},
		{Name: "ten", Options: RoleOptions{MaxConnections: 10}},
	}
	tests := []struct {
		held   []string
		want   int
		wantBy string
	}{
		{[]string{"access"}, 0, ""},
		{[]string{"access", "ten"}, 10, "ten"},
		{[]string{"ten", "pair"}, 2, "pair"},
		{[]string{"unknown"}, 0, ""},
	}
	for _, tt := range tests {
		got, by := MaxConnections(roles, tt.held)
		if got != tt.want || by != tt.wantBy {
			t.Fatalf("MaxConnections(%v) = %d by %q, want %d by %q", tt.held, got, by, tt.want, tt.wantBy)
		}
	}
}
