package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// FromCertificate reads the identity of a keyway certificate: the SPIFFE ID
// from its URI SAN and the rest from the keyway identity extension. It does
// not verify the certificate.
func FromCertificate(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, errors.New("reading identity: no certificate")
	}
	id, err := spiffeIDOf(cert)
	if err != nil {
		return Identity{}, err
	}
	kind, name, err := splitPath(id)
	if err != nil {
		return Identity{}, err
	}
	out := Identity{ID: id, Kind: kind, Name: name, NotAfter: cert.NotAfter}
	found := false
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(ExtensionOID) {
			continue
		}
		if found {
			return Identity{}, fmt.Errorf("identity of %s: %w: extension appears twice", id, ErrMalformedExtension)
		}
		found = true
		if err := decodeExtension(ext.Value, &out); err != nil {
			return Identity{}, fmt.Errorf("identity of %s: %w", id, err)
		}
	}
	return out, nil
}

// spiffeIDOf returns the certificate's one SPIFFE ID.
func spiffeIDOf(cert *x509.Certificate) (spiffeid.ID, error) {
	n := 0
	for _, u := range cert.URIs {
		if strings.EqualFold(u.Scheme, "spiffe") {
			n++
		}
	}
	switch {
	case n == 0:
		return spiffeid.ID{}, fmt.Errorf("%w (subject %q)", ErrNoSPIFFEID, cert.Subject.CommonName)
	case n > 1:
		return spiffeid.ID{}, fmt.Errorf("%w: %d spiffe:// URI SANs (subject %q)", ErrSeveralSPIFFEIDs, n, cert.Subject.CommonName)
	}
	id, err := x509svid.IDFromCert(cert)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("reading SPIFFE ID of %q (an X509-SVID has exactly one URI SAN): %w", cert.Subject.CommonName, err)
	}
	return id, nil
}

// splitPath splits /KIND/NAME.
func splitPath(id spiffeid.ID) (Kind, string, error) {
	segs := strings.Split(strings.TrimPrefix(id.Path(), "/"), "/")
	if len(segs) != 2 || segs[1] == "" {
		return "", "", fmt.Errorf("%w: SPIFFE ID %s: path must be /KIND/NAME", ErrUnknownKind, id)
	}
	kind, err := ParseKind(segs[0])
	if err != nil {
		return "", "", fmt.Errorf("SPIFFE ID %s: %w", id, err)
	}
	return kind, segs[1], nil
}
