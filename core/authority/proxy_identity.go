package authority

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/keyway-dev/keyway/sdk/identity"
)

// VerifyProxyIdentity checks the leaf of a proxy's verified chain: it
// must carry a host identity of cluster (when cluster is set), and be
// exactly want when want is set. Agents and keyway clients call it after
// the chain and the name were verified against the host authority, so
// that no other certificate from that authority passes for a proxy.
func VerifyProxyIdentity(peer []*x509.Certificate, cluster, want string) error {
	if len(peer) == 0 {
		return errors.New("the proxy presented no certificate")
	}
	id, err := identity.FromCertificate(peer[0])
	if err != nil {
		return fmt.Errorf("the proxy's certificate carries no host identity: %w", err)
	}
	switch {
	case id.Kind != identity.KindHost:
		return fmt.Errorf("the proxy's certificate names %s, not a host", id.ID)
	case cluster != "" && id.ID.TrustDomain().Name() != cluster:
		return fmt.Errorf("the proxy's certificate names %s, not a host of cluster %s", id.ID, cluster)
	case want != "" && id.ID.String() != want:
		return fmt.Errorf("the proxy's certificate names %s, but %s was published at this address", id.ID, want)
	}
	return nil
}
