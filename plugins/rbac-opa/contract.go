package rbacopa

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/keyway-dev/keyway/sdk"
)

// checkContract reports where an operator module breaks the contract
// between the bundled policy and operator modules: they may not define
// anything under data.keyway.authz, and data.keyway.custom.deny, when they
// define it, must be a partial set.
func checkContract(file string, mod *ast.Module) sdk.Diagnostics {
	var (
		diags         sdk.Diagnostics
		reservedRef   = ast.MustParseRef("data.keyway.authz")
		customDenyRef = ast.MustParseRef("data.keyway.custom.deny")
	)
	if mod.Package.Path.HasPrefix(reservedRef) {
		diags.Add(attrPolicyFiles,
			fmt.Sprintf("%s: package %s is reserved for the bundled policy",
				position(file, mod.Package.Location), mod.Package.Path),
			"deny requests with deny contains msg if {...} in package keyway.custom")
		return diags
	}
	for _, rule := range mod.Rules {
		//lint:ignore SA1019 the package-qualified path is what the reserved-namespace check compares; Ref() lacks the package
		path := rule.Path()
		where := position(file, rule.Location)
		switch {
		case path.HasPrefix(reservedRef) || reservedRef.HasPrefix(path):
			diags.Add(attrPolicyFiles,
				fmt.Sprintf("%s: rule %s defines part of %s, which is reserved for the bundled policy",
					where, rule.Head.Ref(), reservedRef), "")
		case path.Equal(customDenyRef) && rule.Head.RuleKind() != ast.MultiValue,
			path.HasPrefix(customDenyRef) && len(path) > len(customDenyRef),
			customDenyRef.HasPrefix(path) && len(path) < len(customDenyRef):
			diags.Add(attrPolicyFiles,
				fmt.Sprintf("%s: %s must be a set of messages", where, customDenyRef),
				"write deny contains msg if {...} in package keyway.custom")
		}
	}
	return diags
}
