// Package auth is the auth role's records: users with their passwords
// and invites, roles, one-time join tokens and db resources (databases
// registered with keyway create -f, served by the agents whose selector
// matches their labels), kept in the cluster's state backend. Secrets
// (passwords, invites, tokens) are stored only as hashes and compared in
// constant time.
package auth
