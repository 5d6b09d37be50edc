package access

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
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
	// verified holds client chains already verified, so a client that
	// connects again, or a session checked at admission and again when
	// authorised, costs a digest rather than a chain verification.
	verified map[chainKey]verifiedChain
}

// NewTrust returns a cache over ca.
func NewTrust(ca authority.CA, refresh time.Duration) *Trust {
	return &Trust{ca: ca, refresh: refresh, now: time.Now}
}

// Invalidate makes the next use fetch the authorities again: a rotation
// in this process changed them.
func (t *Trust) Invalidate() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fetched = time.Time{}
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
	t.mu.Lock()
	oldPools, oldPEMs := t.pools, t.pems
	t.mu.Unlock()
	pools := map[sdk.Authority]*x509.CertPool{}
	pems := map[sdk.Authority][]byte{}
	for _, st := range states {
		pem := authority.CertsPEM(st.Certificates...)
		pems[st.Authority] = pem
		// An unchanged authority keeps its pool, and with it the chains
		// verified against it.
		if old, ok := oldPools[st.Authority]; ok && bytes.Equal(oldPEMs[st.Authority], pem) {
			pools[st.Authority] = old
			continue
		}
		pool := x509.NewCertPool()
		for _, der := range st.Certificates {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("parsing a %s authority certificate: %w", st.Authority, err)
			}
			pool.AddCert(c)
		}
		pools[st.Authority] = pool
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
	pool, err := t.Pool(ctx, sdk.AuthorityUser)
	if err != nil {
		return nil, err
	}
	now := t.now()
	key := keyOf(sdk.AuthorityUser, chain)
	if leaf, ok := t.recall(key, pool, now); ok {
		return leaf, nil
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fmt.Errorf("the client certificate cannot be parsed: %v", err)
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("the client certificate of %s expired at %s; run keyway login again", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("the client certificate of %s is not valid before %s; check this machine's clock", leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	verified, err := verify(pool, leaf, chain[1:], now)
	if err != nil {
		return nil, fmt.Errorf("the client certificate of %s was not issued by this cluster's user authority; log in to this cluster with keyway login", leaf.Subject.CommonName)
	}
	notBefore, notAfter := windowOf(verified)
	t.remember(key, verifiedChain{leaf: leaf, pool: pool, notBefore: notBefore, notAfter: notAfter}, now)
	return leaf, nil
}

// errNotIssued means a chain does not lead to the authority.
var errNotIssued = errors.New("not issued by the authority")

// verify checks that leaf, with intermediates (DER), chains to pool for
// client authentication at now, and returns the chain it verified along.
func verify(pool *x509.CertPool, leaf *x509.Certificate, intermediates [][]byte, now time.Time) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, der := range intermediates {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotIssued, err)
	}
	return chains[0], nil
}

// VerifyHost checks a host's certificate chain against the host
// authority: how the proxy recognises an agent's tunnel and its data
// connections. Like a client's, a chain that verified is remembered while
// it holds.
func (t *Trust) VerifyHost(ctx context.Context, certs []*x509.Certificate) (*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errors.New("no host certificate")
	}
	pool, err := t.Pool(ctx, sdk.AuthorityHost)
	if err != nil {
		return nil, fmt.Errorf("host certificate: %w", err)
	}
	chain := make([][]byte, len(certs))
	for i, c := range certs {
		chain[i] = c.Raw
	}
	now := t.now()
	key := keyOf(sdk.AuthorityHost, chain)
	if _, ok := t.recall(key, pool, now); ok {
		return certs[0], nil
	}
	verified, err := verify(pool, certs[0], chain[1:], now)
	if err != nil {
		return nil, fmt.Errorf("host certificate: %w", err)
	}
	notBefore, notAfter := windowOf(verified)
	t.remember(key, verifiedChain{leaf: certs[0], pool: pool, notBefore: notBefore, notAfter: notAfter}, now)
	return certs[0], nil
}
