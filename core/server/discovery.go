package server

import (
	"crypto/x509"
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"

	"github.com/keyway-dev/keyway/core/discovery"
	"github.com/keyway-dev/keyway/core/state"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// newPublisher is what publishes this proxy's public address in the
// state backend, whose set of proxies the API gives agents and clients;
// nil when the public address has no host others can dial. The record
// is removed when the publisher's Run ends, before the state backend
// closes.
func newPublisher(st state.Backend, cert *hostCert, addr, version string, log hclog.Logger) (*discovery.Publisher, error) {
	hostID, err := hostIdentity(cert)
	if err != nil {
		return nil, err
	}
	if !routable(addr) {
		log.Info("this proxy is not published to agents and clients: its public address has no host they can dial; set public_addr in the proxy block when several proxies share a state backend", "public_addr", addr)
		return nil, nil
	}
	return &discovery.Publisher{State: st, Self: discovery.Proxy{Addr: addr, HostID: hostID, Version: version}, Logger: log}, nil
}

// hostIdentity is the SPIFFE ID of the proxy's host certificate.
func hostIdentity(cert *hostCert) (string, error) {
	c := cert.cert.Load()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return "", fmt.Errorf("reading the proxy's host certificate: %w", err)
	}
	id, err := identity.FromCertificate(leaf)
	if err != nil {
		return "", fmt.Errorf("the proxy's host certificate: %w", err)
	}
	return id.ID.String(), nil
}

// routable reports whether addr names a host others can dial, rather
// than a wildcard such as 0.0.0.0.
func routable(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsUnspecified()
}
