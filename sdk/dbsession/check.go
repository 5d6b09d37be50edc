package dbsession

import (
	"crypto/tls"
	"fmt"

	"github.com/keyway-dev/keyway/sdk"
)

// CheckTLS is the TLS configuration of a health check of db: its trust,
// or, while an agent cannot fetch the cluster's authority to build it
// (its tunnel is down), an unverified handshake, so that the check still
// says whether the server answers TLS at all. A check presents no client
// certificate: the server asks for one at authentication, which a check
// never reaches.
func CheckTLS(db *sdk.Database) (*tls.Config, error) {
	if len(db.Trust.CAPEM) == 0 && !db.Trust.SystemPool {
		return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}, nil
	}
	cfg, err := db.Trust.ClientConfig(db.URI, tls.Certificate{})
	if err != nil {
		return nil, fmt.Errorf("TLS with the server: %w", err)
	}
	cfg.Certificates = nil
	return cfg, nil
}
