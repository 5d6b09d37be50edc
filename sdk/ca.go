package sdk

import (
	"context"
	"crypto/x509/pkix"
	"time"
)

// Authority names one of the cluster's certificate authorities.
type Authority int

// The cluster's authorities. Each has its own key.
const (
	AuthorityUnknown Authority = iota
	// AuthorityUser signs client certificates of people and bots.
	AuthorityUser
	// AuthorityHost signs certificates of auth, proxy and agent hosts.
	AuthorityHost
	// AuthorityDB signs server certificates of databases.
	AuthorityDB
	// AuthorityDBClient signs what agents present to databases.
	AuthorityDBClient
)

// String returns the authority's name as used on the command line.
func (a Authority) String() string {
	switch a {
	case AuthorityUser:
		return "user"
	case AuthorityHost:
		return "host"
	case AuthorityDB:
		return "db"
	case AuthorityDBClient:
		return "db-client"
	}
	return "unknown"
}

// AuthorityState is the set of certificates trusted for an authority.
type AuthorityState struct {
	Authority Authority
	// Certificates are DER encoded. The first is the key that remains
	// trusted when the rotation in progress completes: the new key
	// during a rotation, the old one during a rollback.
	Certificates [][]byte
	// Phase is the rotation phase (PhaseStandby when none runs).
	Phase string
	// GraceEnds is when a rotation in progress is due to reach standby.
	GraceEnds time.Time
	// Started is when the rotation in progress began; zero in standby.
	Started time.Time
	// Automatic says the running keyway walks the phases on a schedule.
	Automatic bool
}

// SignRequest asks an authority to certify the public key of a CSR.
type SignRequest struct {
	Authority   Authority
	CSR         []byte // DER-encoded PKCS#10
	CommonName  string
	DNSNames    []string
	IPAddresses []string
	URIs        []string
	Extensions  []pkix.Extension
	NotBefore   time.Time
	NotAfter    time.Time
	// Usages are extended key usages: "server", "client".
	Usages []string
}

// SignResponse is an issued certificate.
type SignResponse struct {
	Certificate []byte
	// Chain runs from the issuer up to the authority's certificate, DER.
	Chain [][]byte
}

// CAPlugin holds the cluster's authorities and signs.
type CAPlugin interface {
	Plugin
	Authorities(ctx context.Context) ([]AuthorityState, error)
	Sign(ctx context.Context, req SignRequest) (SignResponse, error)
	// Rotate moves an authority's rotation to req.Phase, refusing
	// phases out of order (see CheckPhaseChange).
	Rotate(ctx context.Context, req RotateRequest) (AuthorityState, error)
}
