package cavault

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
)

// keyID returns the subject key identifier of pub: the leftmost 160 bits
// of the SHA-256 hash of its DER SubjectPublicKeyInfo (RFC 7093).
func keyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(spki)
	return sum[:20], nil
}
