package rbacopa

import _ "embed"

// bundledPolicyFile names the bundled policy in compiler messages.
const bundledPolicyFile = "keyway/authz.rego"

// bundledPolicy is keyway's role policy, package keyway.authz.
//
//go:embed policy/authz.rego
var bundledPolicy string

// decisionQuery is what the plugin evaluates for each request.
const decisionQuery = "data.keyway.authz.decision"
