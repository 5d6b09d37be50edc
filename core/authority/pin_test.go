package authority

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk/identity"
)

func TestRequireHostIdentity(t *testing.T) {
	host, err := identity.New("example", identity.KindHost, "proxy")
	if err != nil {
		t.Fatal(err)
	}
	user, err := identity.New("example", identity.KindUser, "alice")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		uri     string
		wantErr string
	}{
		{"host identity", host.String(), ""},
		{"serving certificate without identity", "", "no host identity"},
		{"a user's identity", user.String(), "not a host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf := certWithURI(t, tt.uri)
			cfg := RequireHostIdentity(&tls.Config{})
			err := cfg.VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	if err := RequireHostIdentity(&tls.Config{}).VerifyConnection(tls.ConnectionState{}); err == nil {
		t.Fatal("accepted a server without a certificate")
	}
}

// certWithURI makes a self-signed certificate with uri as its only URI
// SAN (none when empty).
func certWithURI(t *testing.T, uri string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	if uri != "" {
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
