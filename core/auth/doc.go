// Package auth is the auth role's records: users with their passwords
// and invites, roles, and one-time join tokens, kept in the cluster's
// state backend. Secrets (passwords, invites, tokens) are stored only as
// hashes and compared in constant time.
package auth
