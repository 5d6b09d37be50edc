package authority

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// testCA is a CA key with its certificate.
type testCA struct {
	key  crypto.Signer
	cert *x509.Certificate
}

// newTestCA self-signs a CA with the given path length, as the CA plugin
// does (0 for authorities made before phased rotation, 1 since).
func newTestCA(t *testing.T, pathLen int) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "keyway example host CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0,
	}
	return testCA{key: key, cert: create(t, tmpl, tmpl, key.Public(), key)}
}

// crossCert certifies ca's key with by's.
func crossCert(t *testing.T, ca, by testCA) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: ca.cert.Subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	return create(t, tmpl, by.cert, ca.key.Public(), by.key)
}

// proxyLeaf is a proxy's serving certificate signed by ca.
func proxyLeaf(t *testing.T, ca testCA) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := url.Parse("spiffe://example/host/proxy")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "proxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, URIs: []*url.URL{id},
	}
	return create(t, tmpl, ca.cert, key.Public(), ca.key)
}

func create(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func raws(certs ...*x509.Certificate) [][]byte {
	out := make([][]byte, 0, len(certs))
	for _, c := range certs {
		out = append(out, c.Raw)
	}
	return out
}

// TestPinnedDuringRotation checks that the chains the proxy presents in
// each phase of a host authority rotation satisfy a client holding
// either key's pin, also when the old key's certificate allows no
// intermediate, and that a chain the pinned key does not vouch for is
// still refused.
func TestPinnedDuringRotation(t *testing.T) {
	old, next, stranger := newTestCA(t, 0), newTestCA(t, 1), newTestCA(t, 1)
	oldPin, _ := Pin(old.cert.Raw)
	newPin, _ := Pin(next.cert.Raw)
	oldLeaf, newLeaf := proxyLeaf(t, old), proxyLeaf(t, next)
	tests := []struct {
		name  string
		chain [][]byte
		pin   string
		ok    bool
	}{
		{"standby, old pin", raws(oldLeaf, old.cert), oldPin, true},
		{"init, old pin", raws(oldLeaf, crossCert(t, old, next), next.cert), oldPin, true},
		{"init, new pin", raws(oldLeaf, crossCert(t, old, next), next.cert), newPin, true},
		{"update_servers, new pin", raws(newLeaf, crossCert(t, next, old), old.cert), newPin, true},
		{"update_servers, old pin", raws(newLeaf, crossCert(t, next, old), old.cert), oldPin, true},
		{"new leaf without cross-certificate, old pin", raws(newLeaf, next.cert, old.cert), oldPin, false},
		{"stranger's leaf next to the pinned certificate", raws(proxyLeaf(t, stranger), stranger.cert, old.cert), oldPin, false},
		{"stranger cross-certifies the pinned key", raws(proxyLeaf(t, stranger), crossCert(t, old, stranger), old.cert), oldPin, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyPinned(tt.chain, tt.pin, "localhost")
			if (err == nil) != tt.ok {
				t.Fatalf("verifyPinned: %v, want accepted %v", err, tt.ok)
			}
		})
	}
}
