package authority

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/keyway-dev/keyway/sdk"
	"github.com/keyway-dev/keyway/sdk/identity"
)

// HostRequest asks for a host certificate: a keyway auth, proxy or agent
// process, named spiffe://CLUSTER/host/NAME, valid for the names and
// addresses clients dial.
type HostRequest struct {
	Cluster string
	Name    string
	SANs    []string
	TTL     time.Duration
}

// SignHost issues a host certificate from the host authority, usable as
// both TLS server and client, with a key generated here.
func SignHost(ctx context.Context, ca CA, req HostRequest, now time.Time) (tls.Certificate, error) {
	id, err := identity.New(req.Cluster, identity.KindHost, req.Name)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := NewKey("")
	if err != nil {
		return tls.Certificate{}, err
	}
	csr, err := NewCSR(key, req.Name)
	if err != nil {
		return tls.Certificate{}, err
	}
	sr := sdk.SignRequest{
		Authority: sdk.AuthorityHost, CSR: csr, CommonName: req.Name, URIs: []string{id.String()},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(req.TTL), Usages: []string{"server", "client"},
	}
	for _, san := range req.SANs {
		if ip := net.ParseIP(san); ip != nil {
			sr.IPAddresses = append(sr.IPAddresses, san)
		} else if san != "" {
			sr.DNSNames = append(sr.DNSNames, san)
		}
	}
	resp, err := ca.Sign(ctx, sr)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(CertsPEM(resp.Certificate), keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the host certificate does not match its key: %w", err)
	}
	return cert, nil
}
