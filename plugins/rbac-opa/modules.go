package rbacopa

import (
	"errors"
	"fmt"
	"os"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/keyway-dev/keyway/sdk"
)

// parserOptions parses every module as Rego v1.
func parserOptions() ast.ParserOptions {
	return ast.ParserOptions{RegoVersion: ast.RegoV1}
}

// loadModules reads and parses the operator's policy files. Every problem
// becomes a diagnostic on policy_files naming the file, and the line where
// there is one.
func loadModules(paths []string) ([]*ast.Module, sdk.Diagnostics) {
	var (
		modules []*ast.Module
		diags   sdk.Diagnostics
		seen    = make(map[string]bool, len(paths))
	)
	for _, path := range paths {
		if path == "" {
			diags.Add(attrPolicyFiles, "a policy file path is empty", "")
			continue
		}
		if seen[path] {
			diags.Add(attrPolicyFiles, fmt.Sprintf("%s is listed twice", path), "")
			continue
		}
		seen[path] = true
		mod, fileDiags := loadModule(path)
		diags = append(diags, fileDiags...)
		if mod != nil {
			modules = append(modules, mod)
		}
	}
	return modules, diags
}

// loadModule reads and parses one policy file.
func loadModule(path string) (*ast.Module, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	src, err := os.ReadFile(path)
	if err != nil {
		diags.Add(attrPolicyFiles, fmt.Sprintf("cannot read policy file %s", path), err.Error())
		return nil, diags
	}
	mod, err := ast.ParseModuleWithOpts(path, string(src), parserOptions())
	if err != nil {
		return nil, regoDiagnostics(path, err)
	}
	if mod == nil {
		diags.Add(attrPolicyFiles, fmt.Sprintf("%s: the file holds no Rego module", path), "")
		return nil, diags
	}
	if diags := checkContract(path, mod); len(diags) > 0 {
		return nil, diags
	}
	return mod, nil
}

// regoDiagnostics turns parser or compiler errors into diagnostics on
// policy_files, each "file:line: message" with the error code as detail.
// file names the module when an error carries no location.
func regoDiagnostics(file string, err error) sdk.Diagnostics {
	var (
		diags  sdk.Diagnostics
		list   ast.Errors
		single *ast.Error
	)
	switch {
	case errors.As(err, &list):
	case errors.As(err, &single):
		list = ast.Errors{single}
	default:
		diags.Add(attrPolicyFiles, fmt.Sprintf("%s: %v", file, err), "")
		return diags
	}
	for _, e := range list {
		diags.Add(attrPolicyFiles, fmt.Sprintf("%s: %s", position(file, e.Location), e.Message), e.Code)
	}
	return diags
}

// position is "file:line" for a location, or file alone when the location
// names no line.
func position(file string, loc *ast.Location) string {
	if loc == nil {
		return file
	}
	if loc.File != "" {
		file = loc.File
	}
	if loc.Row <= 0 {
		return file
	}
	return fmt.Sprintf("%s:%d", file, loc.Row)
}
