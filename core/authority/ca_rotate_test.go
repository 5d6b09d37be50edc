package authority

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/keyway-dev/keyway/sdk"
	pluginv1 "github.com/keyway-dev/keyway/sdk/proto/keyway/plugin/v1"
)

// phaselessCA answers Rotate as a CA plugin from before phased rotation
// does, whatever the phase: one step, phase "rotating".
type phaselessCA struct {
	pluginv1.CAClient
	phase string
}

func (c phaselessCA) Rotate(_ context.Context, req *pluginv1.RotateRequest, _ ...grpc.CallOption) (*pluginv1.RotateResponse, error) {
	phase := c.phase
	if phase == "" {
		phase = req.GetPhase()
	}
	return &pluginv1.RotateResponse{State: &pluginv1.AuthorityState{Authority: req.GetAuthority(), Phase: phase}}, nil
}

func TestRotateRefusesAPluginWithoutPhases(t *testing.T) {
	tests := []struct {
		name, answers, wantErr string
	}{
		{"a plugin that knows phases", "", ""},
		{"a plugin from before phases", "rotating", "does not rotate in phases"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := GRPC{Client: phaselessCA{phase: tt.answers}}.Rotate(context.Background(), sdk.RotateRequest{Authority: sdk.AuthorityHost, Phase: sdk.PhaseInit})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Rotate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Rotate: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
