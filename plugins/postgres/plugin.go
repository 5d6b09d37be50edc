// Package postgres is keyway's PostgreSQL protocol plugin. It receives
// client connections handed off by the core and speaks the PostgreSQL
// wire protocol with them.
//
// This release answers the startup exchange (SSLRequest and GSSENCRequest
// are declined, a StartupMessage is read) and then refuses the session
// with a PostgreSQL ErrorResponse, because routing sessions to databases
// needs the certificate authorities and agents that later releases add.
package postgres

import (
	"context"
	"fmt"

	"github.com/keyway-dev/keyway/sdk"
)

// Version is the plugin's release version.
const Version = "0.1.0"

// Plugin is the PostgreSQL protocol plugin.
type Plugin struct{}

// New returns the plugin.
func New() sdk.Plugin { return &Plugin{} }

// Info describes the plugin.
func (*Plugin) Info() sdk.Info {
	return sdk.Info{Name: "postgres", Kind: sdk.KindProtocol, Version: Version}
}

// ConfigSchema is empty: the plugin has nothing to configure yet.
func (*Plugin) ConfigSchema() sdk.Schema { return sdk.Schema{} }

// Configure accepts the empty configuration.
func (*Plugin) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var cfg struct{}
	if err := req.Decode(&cfg); err != nil {
		return fmt.Errorf("postgres plugin: %w", err)
	}
	return nil
}

// Health is always nil: the plugin holds no resources that can fail.
func (*Plugin) Health(context.Context) error { return nil }
