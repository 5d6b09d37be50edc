package agent

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/authority"
)

func TestNeedsRenewal(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// ours is a certificate issued at `issued` for ttl, backdated as the
	// host authority does.
	ours := func(ttl time.Duration) *x509.Certificate {
		return &x509.Certificate{NotBefore: issued.Add(-authority.HostBackdate), NotAfter: issued.Add(ttl)}
	}
	month := 30 * 24 * time.Hour
	tests := []struct {
		name  string
		leaf  *x509.Certificate
		after time.Duration // since issued
		want  bool
	}{
		{"fresh month", ours(month), 0, false},
		{"month, just before two thirds", ours(month), 20*24*time.Hour - time.Second, false},
		{"month, at two thirds", ours(month), 20 * 24 * time.Hour, true},
		{"month, expired", ours(month), 31 * 24 * time.Hour, true},
		{"45s fresh: the backdate does not count", ours(45 * time.Second), 0, false},
		{"45s after 29s", ours(45 * time.Second), 29 * time.Second, false},
		{"45s after 30s", ours(45 * time.Second), 30 * time.Second, true},
		{"not backdated: the whole span", &x509.Certificate{NotBefore: issued, NotAfter: issued.Add(30 * time.Second)}, 19 * time.Second, false},
		{"not backdated, at two thirds", &x509.Certificate{NotBefore: issued, NotAfter: issued.Add(30 * time.Second)}, 20 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRenewal(tt.leaf, issued.Add(tt.after)); got != tt.want {
				t.Fatalf("NeedsRenewal after %s = %v, want %v (due %s)", tt.after, got, tt.want, RenewalDue(tt.leaf))
			}
		})
	}
}
