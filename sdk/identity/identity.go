package identity

import (
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Identity is who a certificate names and what keyway lets them do.
type Identity struct {
	// ID is the SPIFFE ID, spiffe://CLUSTER/KIND/NAME.
	ID   spiffeid.ID
	Kind Kind
	Name string
	// Roles are the names of the subject's roles.
	Roles []string
	// DBUsers and DBNames are the subject's traits: database users and
	// logical databases its roles may refer to.
	DBUsers []string
	DBNames []string
	// Route is the database session the certificate is for; nil when the
	// certificate is not bound to one.
	Route *Route
	// NotAfter is when the certificate expires.
	NotAfter time.Time
}

// Route binds a certificate to one database session.
type Route struct {
	// Service is the registered database's name.
	Service string
	// DBUser and DBName are the database user and logical database;
	// empty when the route leaves them open.
	DBUser string
	DBName string
}

// New returns the SPIFFE ID spiffe://TRUSTDOMAIN/KIND/NAME.
func New(trustDomain string, kind Kind, name string) (spiffeid.ID, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("trust domain %q: %w", trustDomain, err)
	}
	if !kind.Valid() {
		return spiffeid.ID{}, fmt.Errorf("%w %q: want %q, %q or %q", ErrUnknownKind, string(kind), KindUser, KindBot, KindHost)
	}
	id, err := spiffeid.FromSegments(td, string(kind), name)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("%s name %q: %w", kind, name, err)
	}
	return id, nil
}
