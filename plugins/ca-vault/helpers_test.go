package cavault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// configure configures a new plugin with cfg (marshalled to JSON) and
// dataDir, and fails the test on error.
func configure(t *testing.T, clock *fakeClock, dataDir string, cfg any) *vault {
	t.Helper()
	v, err := tryConfigure(clock, dataDir, cfg)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	// A pkcs11 backend holds the token open; closing it lets the next
	// test load SoftHSM afresh with its own token directory.
	t.Cleanup(func() { _ = v.close() })
	return v
}

func tryConfigure(clock *fakeClock, dataDir string, cfg any) (*vault, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if clock != nil {
		now = clock.now
	}
	v := newVault(now)
	err = v.Configure(context.Background(), sdk.ConfigureRequest{Config: raw, DataDir: dataDir, ClusterName: "example"})
	return v, err
}

// diagnosticsOf returns the diagnostics err carries, failing otherwise.
func diagnosticsOf(t *testing.T, err error) sdk.Diagnostics {
	t.Helper()
	var diags sdk.Diagnostics
	if !errors.As(err, &diags) {
		t.Fatalf("error %v (%T) is not sdk.Diagnostics", err, err)
	}
	return diags
}

func authorityStates(t *testing.T, v *vault) map[sdk.Authority]sdk.AuthorityState {
	t.Helper()
	states, err := v.Authorities(context.Background())
	if err != nil {
		t.Fatalf("Authorities: %v", err)
	}
	out := map[sdk.Authority]sdk.AuthorityState{}
	for _, st := range states {
		out[st.Authority] = st
	}
	if len(out) != 4 || len(states) != 4 {
		t.Fatalf("Authorities returned %d states for %d authorities, want 4", len(states), len(out))
	}
	return out
}

func parseCerts(t *testing.T, ders [][]byte) []*x509.Certificate {
	t.Helper()
	out := make([]*x509.Certificate, 0, len(ders))
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// poolOf is the set of roots a verifier trusting st would use.
func poolOf(t *testing.T, st sdk.AuthorityState) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range parseCerts(t, st.Certificates) {
		pool.AddCert(c)
	}
	return pool
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t *testing.T, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func makeCSR(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// signRequest is a valid request for a client certificate valid for an
// hour from clock's now.
func signRequest(t *testing.T, a sdk.Authority, now time.Time) sdk.SignRequest {
	t.Helper()
	return sdk.SignRequest{
		Authority:  a,
		CSR:        makeCSR(t, ecKey(t)),
		CommonName: "alice",
		URIs:       []string{"spiffe://example/user/alice"},
		NotBefore:  now.Add(-time.Minute),
		NotAfter:   now.Add(time.Hour),
		Usages:     []string{"client"},
	}
}

func sign(t *testing.T, v *vault, req sdk.SignRequest) *x509.Certificate {
	t.Helper()
	resp, err := v.Sign(context.Background(), req)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return parseCerts(t, [][]byte{resp.Certificate})[0]
}

// verifies reports whether leaf chains to a root of pool at time at for
// usage.
func verifies(leaf *x509.Certificate, pool *x509.CertPool, at time.Time, usage x509.ExtKeyUsage) error {
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}
