package apiserver

import (
	"context"
	"fmt"
	"time"

	"github.com/keyway-dev/keyway/core/access"
)

// userCertTTL is the lifetime of a certificate signed at login for a
// user holding roles: UserCertTTL, or less when one of the roles sets
// options { max_session_ttl }. Roles that cannot be read refuse the
// login rather than sign past a cap.
func (s *Server) userCertTTL(ctx context.Context, held []string) (time.Duration, error) {
	roles, err := s.Auth.Roles(ctx)
	if err != nil {
		return 0, fmt.Errorf("keyway could not read the cluster's roles to cap the certificate's lifetime: %w", err)
	}
	if limit, _ := access.SessionTTLCap(roles, held); limit > 0 && limit < UserCertTTL {
		return limit, nil
	}
	return UserCertTTL, nil
}
