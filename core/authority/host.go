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
	// ServeOnly issues a TLS server certificate without the host's
	// cluster identity: what a protocol plugin presents to clients. It
	// cannot pass for the host to agents or other hosts, which require
	// the identity.
	ServeOnly bool
}

// HostBackdate is how far before its issue a host certificate's
// NotBefore lies, for clocks a little behind the authority's: a host
// certificate's lifetime is NotAfter - NotBefore - HostBackdate.
const HostBackdate = time.Minute

// SignHost issues a host certificate from the host authority, usable as
// both TLS server and client, with a key generated here. The returned
// chain ends with a host authority certificate, so clients can pin it
// (during a rotation: see the ca-vault plugin's chains).
func SignHost(ctx context.Context, ca CA, req HostRequest, now time.Time) (tls.Certificate, error) {
	key, err := NewKey("")
	if err != nil {
		return tls.Certificate{}, err
	}
	csr, err := NewCSR(key, req.Name)
	if err != nil {
		return tls.Certificate{}, err
	}
	resp, err := IssueHost(ctx, ca, req, csr, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(CertsPEM(append([][]byte{resp.Certificate}, resp.Chain...)...), keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the host certificate does not match its key: %w", err)
	}
	return cert, nil
}

// IssueHost signs a host certificate for the public key of a CSR made
// elsewhere: what a joining agent gets.
func IssueHost(ctx context.Context, ca CA, req HostRequest, csr []byte, now time.Time) (sdk.SignResponse, error) {
	id, err := identity.New(req.Cluster, identity.KindHost, req.Name)
	if err != nil {
		return sdk.SignResponse{}, err
	}
	sr := sdk.SignRequest{
		Authority: sdk.AuthorityHost, CSR: csr, CommonName: req.Name, URIs: []string{id.String()},
		NotBefore: now.Add(-HostBackdate), NotAfter: now.Add(req.TTL), Usages: []string{"server", "client"},
	}
	if req.ServeOnly {
		sr.URIs, sr.Usages = nil, []string{"server"}
	}
	for _, san := range req.SANs {
		if ip := net.ParseIP(san); ip != nil {
			sr.IPAddresses = append(sr.IPAddresses, san)
		} else if san != "" {
			sr.DNSNames = append(sr.DNSNames, san)
		}
	}
	return ca.Sign(ctx, sr)
}
