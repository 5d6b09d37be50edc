package access

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/core/authority"
	"github.com/keyway-dev/keyway/sdk"
)

// Trust caches the cluster's authorities as certificate pools, refreshing
// them every refresh interval so that rotations reach the data path.
type Trust struct {
	ca      authority.CA
	refresh time.Duration
	now     func() time.Time

	mu      sync.Mutex
	pools   map[sdk.Authority]*x509.CertPool
	pems    map[sdk.Authority][]byte
	fetched time.Time
}

// NewTrust returns a cache over ca.
func NewTrust(ca authority.CA, refresh time.Duration) *Trust {
	return &Trust{ca: ca, refresh: refresh, now: time.Now}
}

// Pool returns the pool of an authority's trusted certificates.
func (t *Trust) Pool(ctx context.Context, a sdk.Authority) (*x509.CertPool, error) {
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pools[a]
	if !ok {
		return nil, fmt.Errorf("the CA plugin has no %s authority", a)
	}
	return p, nil
}

// PEM returns an authority's trusted certificates as PEM.
func (t *Trust) PEM(ctx context.Context, a sdk.Authority) ([]byte, error) {
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pems[a], nil
}

func (t *Trust) load(ctx context.Context) error {
	t.mu.Lock()
	fresh := t.pools != nil && t.now().Sub(t.fetched) < t.refresh
	t.mu.Unlock()
	if fresh {
		return nil
	}
	states, err := t.ca.Authorities(ctx)
	if err != nil {
		return err
	}
	pools := map[sdk.Authority]*x509.CertPool{}
	pems := map[sdk.Authority][]byte{}
	for _, st := range states {
		pool := x509.NewCertPool()
		for _, der := range st.Certificates {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("parsing a %s authority certificate: %w", st.Authority, err)
			}
			pool.AddCert(c)
		}
		pools[st.Authority] = pool
		pems[st.Authority] = authority.CertsPEM(st.Certificates...)
	}
	t.mu.Lock()
	t.pools, t.pems, t.fetched = pools, pems, t.now()
	t.mu.Unlock()
	return nil
}

// VerifyClient checks a client's certificate chain (DER, leaf first)
// against the user authority and returns the leaf. Its errors are
// sentences for the client.
func (t *Trust) VerifyClient(ctx context.Context, chain [][]byte) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("no client certificate was presented; log in with keyway login and connect with the certificate from keyway db login")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("the client certificate cannot be parsed: %v", err)
	}
	now := t.now()
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("the client certificate of %s expired at %s; run keyway login again", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("the client certificate of %s is not valid before %s; check this machine's clock", leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	pool, err := t.Pool(ctx, sdk.AuthorityUser)
	if err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, der := range chain[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("the client certificate of %s was not issued by this cluster's user authority; log in to this cluster with keyway login", leaf.Subject.CommonName)
	}
	return leaf, nil
}
