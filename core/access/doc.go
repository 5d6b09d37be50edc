// Package access decides whether a session may use a database: it checks
// the client's certificate against the cluster's user authority, reads the
// identity it carries, and asks the authorisation plugin with the roles of
// the cluster. Decisions fail closed.
package access
