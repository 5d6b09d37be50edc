package rbacopa

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// compile compiles the bundled policy with the operator's modules and
// prepares the decision query. It is the only place a policy is compiled.
func (p *Plugin) compile(ctx context.Context, operator []*ast.Module) (*engine, error) {
	bundled, err := ast.ParseModuleWithOpts(bundledPolicyFile, bundledPolicy, parserOptions())
	if err != nil {
		return nil, fmt.Errorf("rbac-opa plugin: parsing the bundled policy: %w", err)
	}
	modules := make(map[string]*ast.Module, len(operator)+1)
	modules[bundledPolicyFile] = bundled
	for _, mod := range operator {
		modules[mod.Package.Location.File] = mod
	}

	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(modules); compiler.Failed() {
		if len(operator) == 0 {
			return nil, fmt.Errorf("rbac-opa plugin: compiling the bundled policy: %w", compiler.Errors)
		}
		return nil, regoDiagnostics(bundledPolicyFile, compiler.Errors)
	}

	query, err := rego.New(
		rego.Query(decisionQuery),
		rego.Compiler(compiler),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("rbac-opa plugin: preparing %s: %w", decisionQuery, err)
	}
	p.compiles.Add(1)
	e := &engine{query: query}
	if requestOnly(compiler.Modules) {
		e.memo = newMemo()
	}
	return e, nil
}
