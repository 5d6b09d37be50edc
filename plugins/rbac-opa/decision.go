package rbacopa

import (
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/keyway-dev/keyway/sdk"
)

// errMalformedDecision is returned when the policy's answer is not the
// expected {"allow": bool, "reasons": [...]}.
var errMalformedDecision = errors.New("the policy returned a malformed decision")

// decisionFromResults reads the decision document out of the query's
// results.
func decisionFromResults(results rego.ResultSet) (sdk.Decision, error) {
	if len(results) != 1 || len(results[0].Expressions) != 1 {
		return sdk.Decision{}, fmt.Errorf("the policy defined no decision (%d results)", len(results))
	}
	doc, ok := results[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return sdk.Decision{}, errMalformedDecision
	}
	allow, ok := doc["allow"].(bool)
	if !ok {
		return sdk.Decision{}, fmt.Errorf("%w: allow is not a boolean", errMalformedDecision)
	}
	list, ok := doc["reasons"].([]any)
	if !ok {
		return sdk.Decision{}, fmt.Errorf("%w: reasons is not a list", errMalformedDecision)
	}
	reasons := make([]sdk.Reason, 0, len(list))
	for _, item := range list {
		r, err := reasonFrom(item)
		if err != nil {
			return sdk.Decision{}, err
		}
		reasons = append(reasons, r)
	}
	return sdk.Decision{Allow: allow, Reasons: reasons}, nil
}

// reasonFrom reads one reason object.
func reasonFrom(item any) (sdk.Reason, error) {
	obj, ok := item.(map[string]any)
	if !ok {
		return sdk.Reason{}, fmt.Errorf("%w: a reason is not an object", errMalformedDecision)
	}
	var r sdk.Reason
	var err error
	if r.Effect, err = reasonField(obj, "effect"); err != nil {
		return sdk.Reason{}, err
	}
	if r.Role, err = reasonField(obj, "role"); err != nil {
		return sdk.Reason{}, err
	}
	if r.Rule, err = reasonField(obj, "rule"); err != nil {
		return sdk.Reason{}, err
	}
	if r.Message, err = reasonField(obj, "message"); err != nil {
		return sdk.Reason{}, err
	}
	return r, nil
}

// reasonField reads one string field of a reason.
func reasonField(obj map[string]any, key string) (string, error) {
	s, ok := obj[key].(string)
	if !ok {
		return "", fmt.Errorf("%w: reason %s is not a string", errMalformedDecision, key)
	}
	return s, nil
}

// failClosed is the answer when no decision could be made: deny, say why,
// and return the error too.
func failClosed(err error) (sdk.Decision, error) {
	return sdk.Decision{
		Allow: false,
		Reasons: []sdk.Reason{{
			Effect:  "deny",
			Rule:    "error",
			Message: "authorisation failed: " + err.Error(),
		}},
	}, fmt.Errorf("rbac-opa plugin: %w", err)
}
