package cavault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// caValidity is how long a generated CA certificate is valid.
const caValidity = 10 * 365 * 24 * time.Hour

// clockSkew backdates certificates so that hosts whose clocks run a little
// behind accept them at once.
const clockSkew = time.Minute

// generateKey returns a new private key of the named algorithm.
func generateKey(algorithm string) (crypto.Signer, error) {
	switch algorithm {
	case algECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case algRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case algRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("unknown key algorithm %q", algorithm)
}

// caCommonName is the CN of a generated authority's certificate.
func caCommonName(cluster string, a sdk.Authority) string {
	if cluster == "" {
		return fmt.Sprintf("keyway %s CA", a)
	}
	return fmt.Sprintf("keyway %s %s CA", cluster, a)
}

// selfSignedCA certifies key as the root CA of authority a, valid from now
// for caValidity. It signs leaves, and during a rotation the other key's
// cross-certificate: path length 1, so a client trusting one key accepts
// a leaf of the other through that cross-certificate.
func selfSignedCA(key crypto.Signer, cluster string, a sdk.Authority, now time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCommonName(cluster, a), Organization: []string{"keyway"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	if tmpl.SubjectKeyId, err = keyID(key.Public()); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-signing the %s CA certificate: %w", a, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the new %s CA certificate: %w", a, err)
	}
	return cert, nil
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generating a serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// crossSign certifies ca's key with by's: a CA certificate with ca's
// subject and key, issued by by, valid while both are. It signs leaves
// only.
func crossSign(ca, by *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notBefore, notAfter := ca.NotBefore, ca.NotAfter
	if by.NotBefore.After(notBefore) {
		notBefore = by.NotBefore
	}
	if by.NotAfter.Before(notAfter) {
		notAfter = by.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               ca.Subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              ca.KeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ca.SubjectKeyId,
		AuthorityKeyId:        by.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, by, ca.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("cross-signing a CA certificate: %w", err)
	}
	return der, nil
}
