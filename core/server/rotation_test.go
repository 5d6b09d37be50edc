package server

import (
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

func TestNextScheduledPhase(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	auto := func(phase string) sdk.AuthorityState {
		return sdk.AuthorityState{Phase: phase, Automatic: true, Started: start, GraceEnds: start.Add(30 * time.Hour)}
	}
	manual := auto(sdk.PhaseInit)
	manual.Automatic = false
	tests := []struct {
		name string
		st   sdk.AuthorityState
		at   time.Duration
		want string
	}{
		{"init before a third", auto(sdk.PhaseInit), 9 * time.Hour, ""},
		{"init at a third", auto(sdk.PhaseInit), 10 * time.Hour, sdk.PhaseUpdateClients},
		{"update_clients before two thirds", auto(sdk.PhaseUpdateClients), 19 * time.Hour, ""},
		{"update_clients at two thirds", auto(sdk.PhaseUpdateClients), 20 * time.Hour, sdk.PhaseUpdateServers},
		{"update_servers before the end", auto(sdk.PhaseUpdateServers), 29 * time.Hour, ""},
		{"update_servers at the end", auto(sdk.PhaseUpdateServers), 30 * time.Hour, sdk.PhaseStandby},
		{"a late init moves one phase at a time", auto(sdk.PhaseInit), 40 * time.Hour, sdk.PhaseUpdateClients},
		{"rollback waits for an operator", auto(sdk.PhaseRollback), 40 * time.Hour, ""},
		{"manual rotations are not walked", manual, 40 * time.Hour, ""},
		{"standby", sdk.AuthorityState{Phase: sdk.PhaseStandby}, 40 * time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextScheduledPhase(tt.st, start.Add(tt.at)); got != tt.want {
				t.Fatalf("next phase %q, want %q", got, tt.want)
			}
		})
	}
}
