package apiserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk/identity"
)

// TestAdmitUnder admits sessions of users under a limit: sessions of
// other users and of bots of the same name do not count, a full user is
// refused unless Running finds one of its sessions gone, and a limit of
// zero admits any number.
func TestAdmitUnder(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	alice := identity.Identity{Kind: identity.KindUser, Name: "alice"}
	bob := identity.Identity{Kind: identity.KindUser, Name: "bob"}
	aliceBot := identity.Identity{Kind: identity.KindBot, Name: "alice"}
	tests := []struct {
		name string
		// held are the sessions already admitted; gone are those of them
		// Running reports ended.
		held  []identity.Identity
		gone  map[string]bool
		who   identity.Identity
		limit int
		want  bool
	}{
		{"under the limit", []identity.Identity{alice}, nil, alice, 2, true},
		{"at the limit", []identity.Identity{alice, alice}, nil, alice, 2, false},
		{"at the limit with one ended", []identity.Identity{alice, alice}, map[string]bool{"s0": true}, alice, 2, true},
		{"others do not count", []identity.Identity{bob, bob, aliceBot}, nil, alice, 1, true},
		{"no limit", []identity.Identity{alice, alice, alice}, nil, alice, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLiveSessions()
			l.Running = func(_ context.Context, ss []LiveSession) []LiveSession {
				var out []LiveSession
				for _, s := range ss {
					if tt.gone[s.ID] {
						l.remove(s.ID)
						continue
					}
					out = append(out, s)
				}
				return out
			}
			for i, id := range tt.held {
				l.add(LiveSession{ID: fmt.Sprintf("s%d", i), Identity: id}, now)
			}
			before := l.Len()
			got := l.admitUnder(ctx, LiveSession{ID: "new", Identity: tt.who}, tt.limit, now)
			if got != tt.want {
				t.Fatalf("admitUnder = %v, want %v", got, tt.want)
			}
			wantLen := before - len(tt.gone)
			if got {
				wantLen++
			}
			if l.Len() != wantLen {
				t.Fatalf("%d sessions held after admitUnder, want %d", l.Len(), wantLen)
			}
		})
	}
}
