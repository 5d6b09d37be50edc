package server

import (
	"context"

	"github.com/keyway-dev/keyway/core/auth"
	"github.com/keyway-dev/keyway/core/authority"
)

// adminView is what the admin socket serves of a node.
type adminView struct {
	pluginsView
	auth    *auth.Service
	hostPin func(ctx context.Context) (string, error)
}

// Auth returns the auth role's records, nil without the role.
func (v adminView) Auth() *auth.Service { return v.auth }

// HostPin returns the active host authority's pin.
func (v adminView) HostPin(ctx context.Context) (string, error) { return v.hostPin(ctx) }

func pinOf(der []byte) (string, error) { return authority.Pin(der) }
