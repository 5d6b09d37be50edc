package dbsession

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// countingHost signs a certificate valid for an hour on each call and
// counts the calls.
type countingHost struct {
	sdk.Host
	mu    sync.Mutex
	calls int
	now   time.Time
}

func (h *countingHost) DatabaseCertificate(context.Context, sdk.DatabaseCertificateRequest) (sdk.DatabaseCertificate, error) {
	h.mu.Lock()
	h.calls++
	h.mu.Unlock()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return sdk.DatabaseCertificate{}, err
	}
	notAfter := h.now.Add(time.Hour)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "postgres"}, NotBefore: h.now.Add(-time.Minute), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return sdk.DatabaseCertificate{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return sdk.DatabaseCertificate{}, err
	}
	return sdk.DatabaseCertificate{
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		NotAfter: notAfter,
	}, nil
}

// TestCertCacheRefetchesAfterMaxAge: a certificate valid for an hour is
// reused for certMaxAge and then fetched again, so a rotation of the
// db-client authority reaches every cache within certMaxAge.
func TestCertCacheRefetchesAfterMaxAge(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	host := &countingHost{now: now}
	c := NewCertCache()
	c.now = func() time.Time { return now }
	tests := []struct {
		after time.Duration
		calls int
	}{
		{0, 1},
		{certMaxAge / 2, 1},
		{certMaxAge, 1},
		{certMaxAge + time.Second, 2},
		{certMaxAge + 2*time.Second, 2},
	}
	for _, tt := range tests {
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(tt.after)
		if _, err := c.Get(context.Background(), host, "s1", "db", "postgres"); err != nil {
			t.Fatal(err)
		}
		if host.calls != tt.calls {
			t.Fatalf("after %s: %d fetches, want %d", tt.after, host.calls, tt.calls)
		}
	}
}
