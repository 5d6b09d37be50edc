package server

import (
	"testing"

	"github.com/keyway-dev/keyway/core/config"
	"github.com/keyway-dev/keyway/core/tunnel"
)

// An agent may keep as many data connections as a proxy parks, no more:
// the rest would be closed and dialled again without end.
func TestDataConnectionBoundsAgree(t *testing.T) {
	if config.MaxDataConnections != tunnel.MaxParked {
		t.Fatalf("config allows %d data connections, a proxy parks %d", config.MaxDataConnections, tunnel.MaxParked)
	}
	if config.DefaultDataConnections > config.MaxDataConnections {
		t.Fatalf("the default, %d, is over the most, %d", config.DefaultDataConnections, config.MaxDataConnections)
	}
}
