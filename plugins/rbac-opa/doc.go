// Package rbacopa is keyway's authorisation plugin. Every access decision
// is made here, by Open Policy Agent.
//
// The plugin compiles its bundled role policy (policy/authz.rego, package
// keyway.authz) together with the operator's modules named in the
// policy_files attribute once, at Configure, and evaluates the prepared
// query data.keyway.authz.decision for each request. Operator modules add
// denials through data.keyway.custom.deny. docs/authz.md describes the
// input document, the role semantics and the reasons.
//
// The plugin fails closed: whenever it cannot evaluate the policy it
// denies, with a reason and the error.
package rbacopa
