package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/keyway-dev/keyway/core/discovery"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// startDiscovery publishes this proxy's public address in the state
// backend and follows the cluster's other proxies, whose set the API
// gives agents and clients. At shutdown the record is removed before the
// state backend closes.
func (n *node) startDiscovery(cert *hostCert) error {
	hostID, err := hostIdentity(cert)
	if err != nil {
		return err
	}
	log := n.logger.Named("discovery")
	dir := discovery.NewDirectory(n.state, log)
	n.api.Proxies = dir
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() { dir.Run(ctx); close(followed) }()
	published := make(chan struct{})
	addr := n.cfg.Proxy.PublicAddr
	if routable(addr) {
		pub := &discovery.Publisher{State: n.state, Self: discovery.Proxy{Addr: addr, HostID: hostID, Version: n.opts.Version}, Logger: log}
		go func() { pub.Run(ctx); close(published) }()
	} else {
		close(published)
		log.Info("this proxy is not published to agents and clients: its public address has no host they can dial; set public_addr in the proxy block when several proxies share a state backend", "public_addr", addr)
	}
	n.stop = append(n.stop, func() {
		cancel()
		<-published
		<-followed
	})
	return nil
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
