package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/keyway-dev/keyway/core/authority"
)

// RenewalDue returns when a host certificate should be renewed: when a
// third of its lifetime is left. The lifetime counts from the issue, not
// from the NotBefore the authority backdates (authority.HostBackdate),
// so that a short lifetime does not look mostly spent at its start.
func RenewalDue(leaf *x509.Certificate) time.Time {
	issued := leaf.NotBefore.Add(authority.HostBackdate)
	if !issued.Before(leaf.NotAfter) {
		issued = leaf.NotBefore // not one of ours: the whole span
	}
	return leaf.NotAfter.Add(-leaf.NotAfter.Sub(issued) / 3)
}

// NeedsRenewal reports whether a host certificate is due for renewal at
// now.
func NeedsRenewal(leaf *x509.Certificate, now time.Time) bool {
	return !now.Before(RenewalDue(leaf))
}

// leafOf returns the parsed leaf of a certificate.
func leafOf(cert tls.Certificate) (*x509.Certificate, error) {
	if cert.Leaf != nil {
		return cert.Leaf, nil
	}
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("the agent has no host certificate")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("the agent's host certificate: %w", err)
	}
	return leaf, nil
}
