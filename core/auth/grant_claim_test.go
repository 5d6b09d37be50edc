package auth

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"
)

// TestClaimGrant joins agents with tokens granting names and their first
// claim: a claim keeps the names no other agent was granted by name,
// later registrations cannot widen it, and grants of every name or by
// labels hold nothing against a claim.
func TestClaimGrant(t *testing.T) {
	ctx := context.Background()
	s := newHostsService(t)
	now := time.Now()
	join := func(name string, g DBGrant) {
		t.Helper()
		if err := s.ClaimHostName(ctx, name, &g, time.Hour, now); err != nil {
			t.Fatal(err)
		}
	}
	join("orders-agent", DBGrant{Names: []string{"orders"}})
	join("every-agent", DBGrant{Names: []string{AnyName}})
	join("claimer", DBGrant{FirstClaim: true})

	tests := []struct {
		name      string
		register  []string
		wantNames []string
		wantHeld  map[string]string
	}{
		{"first claim keeps what is free", []string{"billing", "orders", "billing"}, []string{"billing"}, map[string]string{"orders": "orders-agent"}},
		{"a later claim changes nothing", []string{"billing", "payroll"}, []string{"billing"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, held, err := s.ClaimGrant(ctx, "claimer", tt.register)
			if err != nil {
				t.Fatal(err)
			}
			if g.FirstClaim || !slices.Equal(g.Names, tt.wantNames) || !maps.Equal(held, tt.wantHeld) {
				t.Fatalf("ClaimGrant(%v) = %+v, held %v; want names %v, held %v", tt.register, g, held, tt.wantNames, tt.wantHeld)
			}
			stored, err := s.HostGrant(ctx, "claimer")
			if err != nil || !slices.Equal(stored.Names, tt.wantNames) || stored.FirstClaim {
				t.Fatalf("stored grant %+v (%v), want names %v", stored, err, tt.wantNames)
			}
			if err := stored.Check("payroll", nil); err == nil {
				t.Fatal("payroll, registered after the first claim, is covered by the grant")
			}
		})
	}

	// An agent granted names keeps its grant: ClaimGrant does not touch it.
	g, held, err := s.ClaimGrant(ctx, "orders-agent", []string{"orders", "billing"})
	if err != nil || !slices.Equal(g.Names, []string{"orders"}) || held != nil {
		t.Fatalf("ClaimGrant of a named grant = %+v, %v, %v; want names [orders] unchanged", g, held, err)
	}
}
