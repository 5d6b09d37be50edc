package authority

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// Export returns the PEM certificates trusted for an authority, active
// first: during a rotation both old and new.
func Export(ctx context.Context, ca CA, a sdk.Authority) ([]byte, error) {
	st, err := State(ctx, ca, a)
	if err != nil {
		return nil, err
	}
	return CertsPEM(st.Certificates...), nil
}

// State returns one authority's state.
func State(ctx context.Context, ca CA, a sdk.Authority) (sdk.AuthorityState, error) {
	all, err := ca.Authorities(ctx)
	if err != nil {
		return sdk.AuthorityState{}, err
	}
	for _, st := range all {
		if st.Authority == a {
			if len(st.Certificates) == 0 {
				return sdk.AuthorityState{}, fmt.Errorf("the %s authority has no certificate", a)
			}
			return st, nil
		}
	}
	return sdk.AuthorityState{}, fmt.Errorf("the CA plugin has no %s authority", a)
}

// Pin is the sha256 of a certificate's SubjectPublicKeyInfo, as
// "sha256:HEX": what clients pin to trust a cluster.
func Pin(der []byte) (string, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", fmt.Errorf("parsing certificate: %w", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// NotAfter returns a DER certificate's expiry, or the zero time when it
// does not parse.
func NotAfter(der []byte) time.Time {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return time.Time{}
	}
	return cert.NotAfter
}
