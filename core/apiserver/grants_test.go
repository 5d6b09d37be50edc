package apiserver

import (
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/audit"
)

// grantClock is a settable clock for grants.
type grantClock struct{ t time.Time }

func (c *grantClock) now() time.Time { return c.t }

func newTestGrants() (*Grants, *grantClock, func()) {
	clock := &grantClock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	g := NewGrants()
	g.Now = clock.now
	end := g.Add(Grant{SessionID: "s1", Agent: "agent-a", Database: "orders", DBUser: "app", Leaf: []byte("leaf-of-alice"), User: "alice", SpiffeID: "spiffe://c/user/alice"})
	g.Add(Grant{SessionID: "s2", Agent: "agent-a", Database: "orders", Leaf: []byte("leaf-of-bob"), User: "bob"})
	return g, clock, end
}

func TestGrantsAuthorize(t *testing.T) {
	alice := [][]byte{[]byte("leaf-of-alice")}
	cases := []struct {
		name    string
		req     grantAuthorize
		advance time.Duration
		ended   bool
		want    string // "" allows; else a part of the refusal
	}{
		{"the routed session", grantAuthorize{Agent: "agent-a", SessionID: "s1", Database: "orders", DBUser: "app", Chain: alice}, 0, false, ""},
		{"no session named", grantAuthorize{Agent: "agent-a", Database: "orders", DBUser: "app", Chain: alice}, 0, false, "named no session"},
		{"another agent", grantAuthorize{Agent: "agent-b", SessionID: "s1", Database: "orders", DBUser: "app", Chain: alice}, 0, false, "routed no session s1 to the agent agent-b"},
		{"an unknown session", grantAuthorize{Agent: "agent-a", SessionID: "s9", Database: "orders", DBUser: "app", Chain: alice}, 0, false, "routed no session s9"},
		{"another database", grantAuthorize{Agent: "agent-a", SessionID: "s1", Database: "billing", DBUser: "app", Chain: alice}, 0, false, "for the database orders, not billing"},
		{"another client's certificate", grantAuthorize{Agent: "agent-a", SessionID: "s1", Database: "orders", DBUser: "app", Chain: [][]byte{[]byte("leaf-of-bob")}}, 0, false, "not the one its client presented"},
		{"no certificate", grantAuthorize{Agent: "agent-a", SessionID: "s1", Database: "orders", DBUser: "app"}, 0, false, "not the one its client presented"},
		{"a db user the route does not name", grantAuthorize{Agent: "agent-a", SessionID: "s1", Database: "orders", DBUser: "postgres", Chain: alice}, 0, false, "database user app, not postgres"},
		{"too late", grantAuthorize{Agent: "agent-a", SessionID: "s1", Database: "orders", DBUser: "app", Chain: alice}, GrantTTL + time.Second, false, "more than"},
		{"an ended session", grantAuthorize{Agent: "agent-a", SessionID: "s1", Database: "orders", DBUser: "app", Chain: alice}, 0, true, "has ended"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, clock, end := newTestGrants()
			if tc.ended {
				end()
			}
			clock.t = clock.t.Add(tc.advance)
			err := g.checkAuthorize(tc.req)
			check(t, err, tc.want)
		})
	}
}

func TestGrantsSign(t *testing.T) {
	cases := []struct {
		name                        string
		allow                       string // the db user a decision allowed, if any
		agent, sid, database, dbUse string
		want                        string
	}{
		{"allowed as the db user", "app", "agent-a", "s1", "orders", "app", ""},
		{"not decided yet", "", "agent-a", "s1", "orders", "app", "not allowed to log in as the database user app"},
		{"another db user than allowed", "app", "agent-a", "s1", "orders", "postgres", "not allowed to log in as the database user postgres"},
		{"no session", "app", "agent-a", "", "orders", "app", "named no session"},
		{"another agent's session", "app", "agent-b", "s1", "orders", "app", "routed no session s1 to the agent agent-b"},
		{"another database", "app", "agent-a", "s1", "billing", "app", "not billing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, _, _ := newTestGrants()
			if tc.allow != "" {
				g.allow("s1", tc.allow)
			}
			gr, err := g.checkSign(tc.agent, tc.sid, tc.database, tc.dbUse)
			check(t, err, tc.want)
			if err == nil && (gr.User != "alice" || gr.SessionID != "s1") {
				t.Fatalf("the grant signed under is %+v, want alice's session s1", gr)
			}
		})
	}
}

func TestGrantsAuditEvents(t *testing.T) {
	cases := []struct {
		name    string
		agent   string
		event   audit.Event
		advance time.Duration
		ended   bool
		want    string
		// wantUser and wantDB are what the event says once accepted.
		wantUser, wantDB string
	}{
		{"a session start, fields filled from the grant", "agent-a", audit.Event{Event: audit.SessionStart, SessionID: "s1"}, 0, false, "", "alice", "orders"},
		{"a statement naming its own session", "agent-a", audit.Event{Event: audit.SessionQuery, SessionID: "s1", User: "alice", DBService: "orders"}, 0, false, "", "alice", "orders"},
		{"a session end after the session ended", "agent-a", audit.Event{Event: audit.SessionEnd, SessionID: "s1"}, GrantTail - time.Second, true, "", "alice", "orders"},
		{"too long after the end", "agent-a", audit.Event{Event: audit.SessionEnd, SessionID: "s1"}, GrantTail + time.Second, true, "did not route", "", ""},
		{"a login made up", "agent-a", audit.Event{Event: audit.AuthLogin, User: "root", Success: true}, 0, false, "not \"auth.login\"", "", ""},
		{"a certificate made up", "agent-a", audit.Event{Event: audit.CertIssued, SessionID: "s1"}, 0, false, "not \"cert.issued\"", "", ""},
		{"no session", "agent-a", audit.Event{Event: audit.SessionStart}, 0, false, "names no session", "", ""},
		{"an unknown session", "agent-a", audit.Event{Event: audit.SessionStart, SessionID: "s9"}, 0, false, "did not route", "", ""},
		{"another agent's session", "agent-b", audit.Event{Event: audit.SessionStart, SessionID: "s1"}, 0, false, "did not route to the agent agent-b", "", ""},
		{"another user", "agent-a", audit.Event{Event: audit.SessionQuery, SessionID: "s1", User: "bob"}, 0, false, "names the user \"bob\"", "", ""},
		{"another database", "agent-a", audit.Event{Event: audit.SessionQuery, SessionID: "s1", DBService: "billing"}, 0, false, "names the database \"billing\"", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, clock, end := newTestGrants()
			if tc.ended {
				end()
			}
			clock.t = clock.t.Add(tc.advance)
			e := tc.event
			e.Target = "agent/forged"
			err := g.checkEvent(tc.agent, &e)
			check(t, err, tc.want)
			if err != nil {
				return
			}
			if e.User != tc.wantUser || e.DBService != tc.wantDB || e.Target != "agent/"+tc.agent {
				t.Fatalf("accepted event has user %q, db %q, target %q; want %q, %q, agent/%s", e.User, e.DBService, e.Target, tc.wantUser, tc.wantDB, tc.agent)
			}
		})
	}
}

// TestGrantsPruned checks that grants go once their tail has passed,
// and that a live session's grant stays however old.
func TestGrantsPruned(t *testing.T) {
	g, clock, end := newTestGrants()
	end()
	clock.t = clock.t.Add(GrantTail + time.Minute)
	g.Add(Grant{SessionID: "s3", Agent: "agent-a", Database: "orders"})
	if n := g.Len(); n != 2 {
		t.Fatalf("%d grants held after the tail, want 2 (the live s2 and the new s3)", n)
	}
}

func check(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want != "" && err == nil:
		t.Fatalf("allowed, want a refusal saying %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("refusal %q does not say %q", err, want)
	}
}
