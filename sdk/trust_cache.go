package sdk

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"sync"
)

// trustCacheSize bounds the pools a TrustCache keeps; past it the cache
// starts again empty.
const trustCacheSize = 256

// TrustCache keeps the parsed certificate pools of database trusts, so
// the sessions of one database share one pool instead of parsing its CA
// certificates, and holding a copy, each; and it remembers the server
// chains that verified against them, so a database's chain is checked
// once rather than at every connection. The zero value is ready to use
// and safe for concurrent use; a protocol plugin keeps one.
type TrustCache struct {
	mu     sync.Mutex
	pools  map[trustKey]*x509.CertPool
	chains verifiedChains
}

// trustKey names a pool: the CA certificates' hash and whether the
// system's roots are in it.
type trustKey struct {
	ca     [sha256.Size]byte
	system bool
}

// ClientConfig is t.ClientConfig(addr, cert) with t's pool from the
// cache and the server's chain remembered once verified. A nil cache
// parses the pool and verifies the chain each time.
func (c *TrustCache) ClientConfig(t ServerTrust, addr string, cert tls.Certificate) (*tls.Config, error) {
	if c == nil {
		return t.ClientConfig(addr, cert)
	}
	roots, err := c.roots(t)
	if err != nil {
		return nil, err
	}
	return t.clientConfig(addr, cert, roots, &c.chains)
}

func (c *TrustCache) roots(t ServerTrust) (*x509.CertPool, error) {
	key := trustKey{ca: sha256.Sum256(t.CAPEM), system: t.SystemPool}
	c.mu.Lock()
	pool, ok := c.pools[key]
	c.mu.Unlock()
	if ok {
		return pool, nil
	}
	pool, err := t.roots()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pools == nil || len(c.pools) >= trustCacheSize {
		c.pools = map[trustKey]*x509.CertPool{}
	}
	c.pools[key] = pool
	return pool, nil
}
