// Package dbsession helps protocol plugins serve database sessions the
// way keyway's own do: check a session's login against the route in its
// client certificate, keep its audit trail with statements on record
// before their answers, and cache db-client certificates.
package dbsession

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// ClientIdentity reads the keyway identity, route included, in a
// session's client certificate. A failure is a sentence for the client.
func ClientIdentity(s *sdk.Session) (identity.Identity, error) {
	var id identity.Identity
	if len(s.ClientCertificates) == 0 {
		return id, errors.New("keyway: connect with the certificate from keyway db login; this session has none")
	}
	cert, err := x509.ParseCertificate(s.ClientCertificates[0])
	if err != nil {
		return id, fmt.Errorf("keyway: the client certificate cannot be parsed: %v", err)
	}
	id, err = identity.FromCertificate(cert)
	if err != nil {
		return id, fmt.Errorf("keyway: the client certificate carries no keyway identity: %v", err)
	}
	return id, nil
}

// CheckRoute reads the identity in a session's client certificate and
// compares the database user and logical database the client asked for
// with the route the certificate carries. A failure is a sentence for
// the client; protocol plugins send it as their protocol's refusal of a
// login.
func CheckRoute(s *sdk.Session, dbUser, dbName string) (identity.Identity, error) {
	id, err := ClientIdentity(s)
	if err != nil {
		return id, err
	}
	if dbUser == "" {
		return id, errors.New("keyway: the client names no database user")
	}
	r := id.Route
	switch {
	case r == nil:
		return id, nil
	case s.Database != nil && r.Service != "" && r.Service != s.Database.Name:
		return id, fmt.Errorf("keyway: this certificate of %s is for database %s, not %s", id.Name, r.Service, s.Database.Name)
	case r.DBUser != "" && r.DBUser != dbUser:
		return id, fmt.Errorf("keyway: this certificate of %s is for database user %q, not %q; run keyway db login again with --db-user=%s", id.Name, r.DBUser, dbUser, dbUser)
	case r.DBName != "" && r.DBName != dbName:
		return id, fmt.Errorf("keyway: this certificate of %s is for database name %q, not %q; run keyway db login again with --db-name=%s", id.Name, r.DBName, dbName, dbName)
	}
	return id, nil
}
