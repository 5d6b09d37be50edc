package rbacopa

import (
	"context"
	"fmt"

	"github.com/keyway-dev/keyway/sdk"
)

// attrPolicyFiles is the attribute naming the operator's Rego modules.
const attrPolicyFiles = "policy_files"

// config is the plugin's config block.
type config struct {
	// PolicyFiles are Rego files compiled alongside the bundled policy.
	PolicyFiles []string `json:"policy_files"`
}

// Configure reads and compiles the operator's modules with the bundled
// policy, and prepares the decision query. Problems with the modules are
// returned as sdk.Diagnostics on policy_files; the previously compiled
// policy, if any, stays in force when Configure fails.
func (p *Plugin) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	var cfg config
	if err := req.Decode(&cfg); err != nil {
		return fmt.Errorf("rbac-opa plugin: %w", err)
	}
	modules, diags := loadModules(cfg.PolicyFiles)
	if err := diags.Err(); err != nil {
		return err
	}
	e, err := p.compile(ctx, modules)
	if err != nil {
		return err
	}
	p.engine.Store(e)
	return nil
}
