package dbsession

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// certRenewBefore is how long before expiry a cached certificate is
// replaced.
const certRenewBefore = 5 * time.Minute

// certMaxAge is how long a certificate is used before a new one is
// fetched, however long it is valid: after a db-client authority rotation
// reaches update_clients, every cache holds a certificate of the new key
// within this time, so the old key can be dropped from the databases'
// trust (standby) without a connection failing.
const certMaxAge = 30 * time.Second

// CertCache keeps one database client certificate per database and
// database user, so that a protocol plugin does not ask the host to sign
// one for every connection.
type CertCache struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[certKey]*certEntry
}

type certKey struct{ database, dbUser string }

type certEntry struct {
	ready    chan struct{} // closed once cert or err is set
	cert     tls.Certificate
	notAfter time.Time
	fetched  time.Time
	err      error
}

// NewCertCache returns an empty cache.
func NewCertCache() *CertCache {
	return &CertCache{now: time.Now, entries: map[certKey]*certEntry{}}
}

// Get returns a valid certificate, fetching it from the host when the
// cache has none or it is about to expire. Concurrent callers for the same
// key share one fetch, made for the session that asked first (sessionID,
// the session's Session.ID): on an agent the cluster signs only for a
// session it routed there and allowed as dbUser.
func (c *CertCache) Get(ctx context.Context, host sdk.Host, sessionID, database, dbUser string) (tls.Certificate, error) {
	key := certKey{database, dbUser}
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		select {
		case <-e.ready:
			if e.err != nil || c.now().Add(certRenewBefore).After(e.notAfter) || c.now().Sub(e.fetched) > certMaxAge {
				ok = false
			}
		default:
		}
	}
	if !ok {
		e = &certEntry{ready: make(chan struct{})}
		c.entries[key] = e
		go c.fetch(host, sessionID, key, e)
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e.cert, e.err
	case <-ctx.Done():
		return tls.Certificate{}, ctx.Err()
	}
}

func (c *CertCache) fetch(host sdk.Host, sessionID string, key certKey, e *certEntry) {
	defer close(e.ready)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dc, err := host.DatabaseCertificate(ctx, sdk.DatabaseCertificateRequest{SessionID: sessionID, Database: key.database, DBUser: key.dbUser})
	if err != nil {
		e.err = fmt.Errorf("getting a certificate for database user %q: %w", key.dbUser, err)
		return
	}
	cert, err := tls.X509KeyPair(dc.CertPEM, dc.KeyPEM)
	if err != nil {
		e.err = fmt.Errorf("the host's certificate for database user %q is unusable: %w", key.dbUser, err)
		return
	}
	e.cert, e.notAfter, e.fetched = cert, dc.NotAfter, c.now()
}
