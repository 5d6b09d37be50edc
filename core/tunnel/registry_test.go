package tunnel

import (
	"net"
	"testing"

	"github.com/hashicorp/yamux"

	"github.com/keyway-dev/keyway/sdk"
)

// session is the proxy's end of a tunnel over an in-memory connection.
func session(t *testing.T) *yamux.Session {
	t.Helper()
	a, b := net.Pipe()
	srv, err := Server(a)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Client(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
	return srv
}

func TestFindPrefersHealthyAgents(t *testing.T) {
	r := NewRegistry()
	orders := []sdk.Database{{Name: "orders", Protocol: "postgres"}}
	var agents []*Agent
	for _, name := range []string{"a", "b", "c"} {
		a := r.Add(name, session(t))
		a.SetDatabases(orders)
		agents = append(agents, a)
	}
	agents[0].SetHealth(map[string]string{"orders": "connection refused"})
	agents[2].SetHealth(map[string]string{"orders": "timeout"})

	for range 6 {
		a, db, found := r.Find("orders")
		if !found || db.Name != "orders" || a.Name != "b" {
			t.Fatalf("found %v %v %q; want the one healthy agent b", found, db.Name, a.Name)
		}
	}

	agents[1].SetHealth(map[string]string{"orders": "timeout"})
	seen := map[string]bool{}
	for range 6 {
		a, _, found := r.Find("orders")
		if !found {
			t.Fatal("a database whose agents all failed their checks is still routed, so the session's error says why")
		}
		seen[a.Name] = true
	}
	if len(seen) != 3 {
		t.Fatalf("with no healthy agent, sessions went to %v, want all three in turn", seen)
	}

	listed := r.List()
	if len(listed) != 3 || listed[0].Agent != "a" || listed[0].Healthy || listed[0].Detail != "connection refused" {
		t.Fatalf("listed %+v", listed)
	}
	if _, _, found := r.Find("billing"); found {
		t.Fatal("found a database no agent serves")
	}
}

// TestLookupKeepsTheRoundRobin checks that looking a database up, as
// authorising a session does, does not advance the turn: sessions
// alternate over two agents however many look-ups come between.
func TestLookupKeepsTheRoundRobin(t *testing.T) {
	r := NewRegistry()
	orders := []sdk.Database{{Name: "orders", Protocol: "postgres"}}
	for _, name := range []string{"a", "b"} {
		r.Add(name, session(t)).SetDatabases(orders)
	}
	seen := map[string]int{}
	for range 6 {
		a, _, _ := r.Find("orders")
		seen[a.Name]++
		if db, found := r.Lookup("orders"); !found || db.Name != "orders" {
			t.Fatalf("Lookup(orders) = %v, %v", db, found)
		}
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Fatalf("six sessions with a look-up each went %v; want three to each agent", seen)
	}
	if _, found := r.Lookup("missing"); found {
		t.Fatal("Lookup found a database no agent registered")
	}
}
