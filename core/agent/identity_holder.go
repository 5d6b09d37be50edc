package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
)

// CurrentIdentity holds the agent's identity as renewal changes it. Every
// tunnel dial reads it, so a renewed certificate and a new set of host
// authorities apply to the next dial; tunnels already up keep the
// certificate they started with. It is safe for concurrent use.
type CurrentIdentity struct {
	mu sync.RWMutex
	id Identity
}

// NewCurrentIdentity holds id.
func NewCurrentIdentity(id Identity) *CurrentIdentity {
	return &CurrentIdentity{id: id}
}

// Get returns the identity now held.
func (c *CurrentIdentity) Get() Identity {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.id
}

// Set replaces the identity.
func (c *CurrentIdentity) Set(id Identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id = id
}

// Certificate returns the host certificate now held, for
// tls.Config.GetClientCertificate.
func (c *CurrentIdentity) Certificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cert := c.Get().Cert
	return &cert, nil
}

// HostPool returns the host authorities now trusted.
func (c *CurrentIdentity) HostPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, der := range c.Get().HostCAs {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("the agent's host authority: %w", err)
		}
		pool.AddCert(cert)
	}
	return pool, nil
}
