package sdk

import "context"

// Decision is an authorisation plugin's answer.
type Decision struct {
	Allow   bool
	Reasons []Reason
}

// Reason tells which role and rule produced a decision.
type Reason struct {
	// Effect is "allow" or "deny".
	Effect  string
	Role    string
	Rule    string
	Message string
}

// AuthzPlugin makes access decisions.
type AuthzPlugin interface {
	Plugin
	// Authorize decides whether action is allowed for the JSON input
	// document (identity, roles, database, route, client).
	Authorize(ctx context.Context, action string, input []byte) (Decision, error)
}
