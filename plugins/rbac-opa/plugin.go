package rbacopa

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/keyway-dev/keyway/sdk"
)

// Version is the plugin's release version.
const Version = "0.2.0"

// Plugin is the authorisation plugin. Its zero value denies everything
// until Configure has compiled a policy.
type Plugin struct {
	// engine is the compiled policy; nil before the first Configure.
	engine atomic.Pointer[engine]
	// compiles counts policy compilations, so that tests can tell that
	// decisions reuse the prepared query.
	compiles atomic.Int64
}

// New returns the plugin.
func New() sdk.Plugin { return &Plugin{} }

// Info describes the plugin.
func (*Plugin) Info() sdk.Info {
	return sdk.Info{Name: "rbac-opa", Kind: sdk.KindAuthz, Version: Version}
}

// ConfigSchema describes the plugin's config block.
func (*Plugin) ConfigSchema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{{
		Name: attrPolicyFiles,
		Type: sdk.TypeStringList,
		Description: "Rego modules compiled alongside the bundled policy; " +
			"rules deny contains msg if {...} in package keyway.custom refuse requests",
	}}}
}

// errNoPolicy is returned while no policy has been compiled.
var errNoPolicy = errors.New("no authorisation policy is compiled")

// Health returns nil once a policy is compiled.
func (p *Plugin) Health(context.Context) error {
	if p.engine.Load() == nil {
		return fmt.Errorf("rbac-opa plugin: %w", errNoPolicy)
	}
	return nil
}

// Authorize evaluates the compiled policy for action and the JSON input
// document. When the policy cannot be evaluated it denies, with a reason
// that starts "authorisation failed:", and returns the error as well.
func (p *Plugin) Authorize(ctx context.Context, action string, input []byte) (sdk.Decision, error) {
	e := p.engine.Load()
	if e == nil {
		return failClosed(errNoPolicy)
	}
	d, err := e.decide(ctx, action, input)
	if err != nil {
		return failClosed(err)
	}
	return d, nil
}
