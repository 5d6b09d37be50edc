// Package rbacopa is keyway's authorisation plugin. Every access decision
// is made here.
//
// This release denies every request with a reason: no policy is loaded
// yet, and an authorisation plugin must fail closed. The Open Policy Agent
// engine and the bundled role policy arrive in a later release.
package rbacopa

import (
	"context"
	"fmt"

	"github.com/keyway-dev/keyway/sdk"
)

// Version is the plugin's release version.
const Version = "0.1.0"

// Plugin is the authorisation plugin.
type Plugin struct{}

// New returns the plugin.
func New() sdk.Plugin { return &Plugin{} }

// Info describes the plugin.
func (*Plugin) Info() sdk.Info {
	return sdk.Info{Name: "rbac-opa", Kind: sdk.KindAuthz, Version: Version}
}

// ConfigSchema is empty for now.
func (*Plugin) ConfigSchema() sdk.Schema { return sdk.Schema{} }

// Configure accepts the empty configuration.
func (*Plugin) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var cfg struct{}
	if err := req.Decode(&cfg); err != nil {
		return fmt.Errorf("rbac-opa plugin: %w", err)
	}
	return nil
}

// Health is always nil.
func (*Plugin) Health(context.Context) error { return nil }

// Authorize denies: with no policy loaded nothing is allowed.
func (*Plugin) Authorize(_ context.Context, action string, _ []byte) (sdk.Decision, error) {
	return sdk.Decision{Allow: false, Reasons: []sdk.Reason{{
		Effect: "deny", Rule: "no-policy",
		Message: fmt.Sprintf("%s denied: no authorisation policy is loaded", action),
	}}}, nil
}
