package rbacopa

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/keyway-dev/keyway/sdk"
)

// engine is a compiled policy, ready to decide. It is immutable and safe
// for concurrent use.
type engine struct {
	query rego.PreparedEvalQuery
	// memo remembers decisions when the policy depends on the request
	// alone; nil otherwise.
	memo *memo
}

// decide evaluates the prepared query for one request. A request whose
// context is already done is not evaluated: OPA notices cancellation only
// now and then, and a caller that has given up gets an error, not a
// decision.
func (e *engine) decide(ctx context.Context, action string, input []byte) (sdk.Decision, error) {
	if err := ctx.Err(); err != nil {
		return sdk.Decision{}, fmt.Errorf("deciding: %w", err)
	}
	doc, err := parseInput(action, input)
	if err != nil {
		return sdk.Decision{}, err
	}
	var key memoKey
	if e.memo != nil {
		key = keyOf(doc)
		if d, ok := e.memo.get(key); ok {
			return d, nil
		}
	}
	results, err := e.query.Eval(ctx, rego.EvalParsedInput(doc))
	if err != nil {
		return sdk.Decision{}, fmt.Errorf("evaluating the policy: %w", err)
	}
	d, err := decisionFromResults(results)
	if err == nil && e.memo != nil {
		e.memo.put(key, d)
	}
	return d, err
}
