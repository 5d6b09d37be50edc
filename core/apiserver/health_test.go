package apiserver

import (
	"testing"

	"github.com/keyway-dev/keyway/sdk"
)

func TestListedHealthSummary(t *testing.T) {
	ok := func(name string) AgentHealth { return AgentHealth{Name: name, Healthy: true} }
	bad := func(name, why string) AgentHealth { return AgentHealth{Name: name, Detail: why} }
	tests := []struct {
		name    string
		agents  []AgentHealth
		status  string
		healthy bool
		detail  string
	}{
		{"no agent", nil, StatusNoAgent, false, "no connected agent serves it"},
		{"one healthy", []AgentHealth{ok("a")}, StatusHealthy, true, ""},
		{"one of two healthy", []AgentHealth{bad("a", "refused"), ok("b")}, StatusHealthy, true, ""},
		{"none healthy", []AgentHealth{bad("a", "refused"), bad("b", "timeout")}, StatusUnhealthy, false, "a: refused; b: timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listedToProto(ListedDatabase{Database: sdk.Database{Name: "orders", Protocol: "postgres"}, Agents: tt.agents})
			if got.GetStatus() != tt.status || got.GetHealthy() != tt.healthy || got.GetHealthDetail() != tt.detail {
				t.Fatalf("status %q healthy %v detail %q; want %q %v %q", got.GetStatus(), got.GetHealthy(), got.GetHealthDetail(), tt.status, tt.healthy, tt.detail)
			}
			if len(got.GetAgents()) != len(tt.agents) || got.GetName() != "orders" {
				t.Fatalf("listed %+v", got)
			}
		})
	}
}
