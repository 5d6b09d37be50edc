package apiserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// TestRemoteTunnelsCarryOrdersAndGrants follows one agent's tunnel to a
// proxy without the auth role: an order to end sessions goes down its
// stream and waits for the proxy's answer; an order for an agent with no
// tunnel reports none; a route grants the session and its end leaves
// the tail; the stream's end ends what is pending and every grant.
func TestRemoteTunnelsCarryOrdersAndGrants(t *testing.T) {
	r := NewRemoteTunnels()
	tun, err := r.open("proxy-1", "t1", "agent-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.open("proxy-1", "t1", "agent-1"); err == nil {
		t.Fatal("a proxy opened the same tunnel twice")
	}
	if _, ok := r.get("proxy-2", "t1"); ok {
		t.Fatal("another proxy reaches proxy-1's tunnel")
	}
	if got := r.Registry.Agents(); len(got) != 1 || got[0].Name != "agent-1" {
		t.Fatalf("registry holds %v", got)
	}

	// The proxy answers the first order with an error, the second with
	// none.
	go func() {
		o := <-tun.orders
		if o.GetProtocol() != "postgres" || len(o.GetSessionIds()) != 1 || o.GetKind() != sdk.EndLocked {
			t.Errorf("order %+v", o)
		}
		tun.answered(o.GetOrder(), "the agent did not confirm")
		o = <-tun.orders
		tun.answered(o.GetOrder(), "")
	}()
	reason := sdk.EndReason{Kind: sdk.EndLocked, Message: "locked"}
	found, err := r.EndSessions(t.Context(), "agent-1", "postgres", []string{"s1"}, reason)
	if !found || err == nil || !strings.Contains(err.Error(), "did not confirm") {
		t.Fatalf("first order: found %v, %v", found, err)
	}
	if found, err := r.EndSessions(t.Context(), "agent-1", "postgres", []string{"s1"}, reason); !found || err != nil {
		t.Fatalf("second order: found %v, %v", found, err)
	}
	if found, err := r.EndSessions(t.Context(), "agent-2", "postgres", []string{"s1"}, reason); found || err != nil {
		t.Fatalf("an agent without a tunnel: found %v, %v", found, err)
	}

	g := NewGrants()
	tun.route(g, "s1", func() Grant { return Grant{SessionID: "s1", Agent: "agent-1", Database: "orders"} }, false)
	if _, err := g.checkSign("agent-1", "s1", "orders", "app"); err == nil || !strings.Contains(err.Error(), "allowed") {
		// No decision yet allowed a database user: the grant exists but
		// signs nothing.
		t.Fatalf("a routed session before its decision: %v", err)
	}
	if g.Len() != 1 {
		t.Fatalf("%d grants, want 1", g.Len())
	}

	// The stream ends while an order waits: the order fails, the grant
	// ends (its tail stays for the session's last events).
	waiting := make(chan error, 1)
	go func() {
		_, err := r.EndSessions(context.Background(), "agent-1", "postgres", []string{"s1"}, reason)
		waiting <- err
	}()
	<-tun.orders
	r.close("proxy-1", "t1", tun)
	select {
	case err := <-waiting:
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Fatalf("an order pending at the stream's end: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an order pending at the stream's end still waits")
	}
	if !g.ended("s1") {
		t.Fatal("the session's grant did not end with its tunnel")
	}
	if len(r.Registry.Agents()) != 0 {
		t.Fatal("the registry keeps the closed tunnel's agent")
	}
}
