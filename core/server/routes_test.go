package server

import (
	"context"
	"errors"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/keyway-dev/keyway/core/agent"
	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/proxy"
	"github.com/keyway-dev/keyway/core/supervisor"
	"github.com/keyway-dev/keyway/core/tunnel"
	"github.com/keyway-dev/keyway/sdk"
)

// storedDBs is a fixed set of db resources.
type storedDBs map[string]config.Database

func (s storedDBs) GetDatabase(_ context.Context, name string) (config.Database, bool, error) {
	db, ok := s[name]
	return db, ok, nil
}

// TestRoutesPreferAHealthyDatabase routes sessions for a database served
// both in this process and by an agent: this process's copy while its
// check passes or no agent's does, else the agent.
func TestRoutesPreferAHealthyDatabase(t *testing.T) {
	local, err := agent.NewRegistry([]config.Database{{Name: "orders", Protocol: "postgres", URI: "l:5432", TrustSystemCertPool: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tunnels := tunnel.NewRegistry()
	a, b := net.Pipe()
	srv, err := tunnel.Server(a)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := tunnel.Client(b)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close(); _ = srv.Close() }()
	remote := tunnels.Add("agent-b", srv)
	remote.SetDatabases([]sdk.Database{{Name: "orders", Protocol: "postgres"}})

	r := routes{
		local: local, tunnels: tunnels, sup: supervisor.New(supervisor.Options{}),
		resources: storedDBs{"billing": {Name: "billing", Protocol: "postgres", URI: "b:5432", Labels: map[string]string{"env": "prod"}}},
	}
	// This process runs no plugin in the test, so a session routed here
	// fails to find one; a session routed to the agent gets its tunnel.
	viaAgent := func(name string) bool {
		t.Helper()
		_, target, found, _ := r.Database(t.Context(), name)
		if !found {
			t.Fatalf("%s not found", name)
		}
		_, ok := target.(tunnelTarget)
		return ok
	}
	steps := []struct {
		name          string
		local, remote error
		agent         bool
	}{
		{"both healthy", nil, nil, false},
		{"this process's check failed", errors.New("refused"), nil, true},
		{"both failed", errors.New("refused"), errors.New("timeout"), false},
		{"the agent's check failed", nil, errors.New("timeout"), false},
	}
	for _, st := range steps {
		local.SetHealth("orders", st.local)
		if st.remote != nil {
			remote.SetHealth(map[string]string{"orders": st.remote.Error()})
		} else {
			remote.SetHealth(nil)
		}
		if got := viaAgent("orders"); got != st.agent {
			t.Fatalf("%s: routed to the agent %v, want %v", st.name, got, st.agent)
		}
	}

	_, _, found, err := r.Database(t.Context(), "billing")
	if !found || err == nil || !strings.Contains(err.Error(), "no connected agent serves it") || !strings.Contains(err.Error(), "{env=prod}") {
		t.Fatalf("a db resource no agent serves: found %v, %v", found, err)
	}
	if _, _, found, _ := r.Database(t.Context(), "nowhere"); found {
		t.Fatal("an unknown database was found")
	}
}

// TestOutOfBandRequestsGoWhereTheirKeyWasIssued routes out-of-band
// requests by the route tag in their key: to the agent whose tag it is,
// to none for a tag no route has, and to every agent of the protocol
// when the request carries no tag.
func TestOutOfBandRequestsGoWhereTheirKeyWasIssued(t *testing.T) {
	tunnels := tunnel.NewRegistry()
	for _, name := range []string{"agent-a", "agent-b"} {
		a, b := net.Pipe()
		srv, err := tunnel.Server(a)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := tunnel.Client(b)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
		tunnels.Add(name, srv).SetDatabases([]sdk.Database{{Name: "orders", Protocol: "postgres"}})
	}
	r := routes{tunnels: tunnels, sup: supervisor.New(supervisor.Options{})}
	agentsOf := func(targets []proxy.Target) []string {
		var names []string
		for _, tg := range targets {
			if tt, ok := tg.(tunnelTarget); ok {
				names = append(names, tt.a.Name)
			}
		}
		sort.Strings(names)
		return names
	}
	tests := []struct {
		name     string
		protocol string
		tag      []byte
		want     []string
	}{
		{"agent-b's key", "postgres", proxy.KeyTag(proxy.AgentRoute("agent-b")), []string{"agent-b"}},
		{"agent-a's key", "postgres", proxy.KeyTag(proxy.AgentRoute("agent-a")), []string{"agent-a"}},
		{"a key no route issued", "postgres", proxy.KeyTag(proxy.AgentRoute("gone")), nil},
		{"no tag", "postgres", nil, []string{"agent-a", "agent-b"}},
		{"another protocol", "mysql", proxy.KeyTag(proxy.AgentRoute("agent-a")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := agentsOf(r.OutOfBandTargets(tt.protocol, tt.tag)); !slices.Equal(got, tt.want) {
				t.Fatalf("targets %v, want %v", got, tt.want)
			}
		})
	}
}
