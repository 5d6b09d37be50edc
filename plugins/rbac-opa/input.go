package rbacopa

import (
	"bytes"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// parseInput reads the JSON input document straight into Rego's value
// form. The document must be an object; its "action", when present, must
// agree with action, and is set to action when absent.
func parseInput(action string, input []byte) (ast.Object, error) {
	doc, err := ast.ValueFromReader(bytes.NewReader(input))
	if err != nil {
		return nil, fmt.Errorf("reading the input document: %w", err)
	}
	obj, ok := doc.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("the input document is a %s, not an object", ast.ValueName(doc))
	}
	key := ast.StringTerm("action")
	if got := obj.Get(key); got != nil {
		if s, ok := got.Value.(ast.String); !ok || string(s) != action {
			return nil, fmt.Errorf("the input document's action %v is not the requested action %q", got, action)
		}
		return obj, nil
	}
	obj.Insert(key, ast.StringTerm(action))
	return obj, nil
}
