package authority

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// PinnedTLS returns a client configuration that trusts the server only
// if its chain contains a certificate whose SubjectPublicKeyInfo has the
// given pin and which signed the server's certificate for serverName,
// directly or through a CA certificate it cross-certified (a rotation):
// how a new client or agent checks the proxy before it trusts anything
// the proxy says.
func PinnedTLS(pin, serverName string, nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         nextProtos,
		ServerName:         serverName,
		InsecureSkipVerify: true, // replaced by the pin check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyPinned(raw, pin, serverName)
		},
	}
}

func verifyPinned(raw [][]byte, pin, serverName string) error {
	if len(raw) == 0 {
		return errors.New("the proxy presented no certificate")
	}
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("parsing the proxy's certificate: %w", err)
		}
		certs = append(certs, c)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	var seen, pinned []*x509.Certificate
	var pins []string
	for _, c := range certs[1:] {
		p, _ := Pin(c.Raw)
		pins = append(pins, p)
		if p == pin {
			roots.AddCert(c)
			pinned = append(pinned, c)
		} else {
			seen = append(seen, c)
		}
	}
	if len(pinned) == 0 {
		return fmt.Errorf("the proxy's host authority does not match the expected pin %s (it presented %v); check the address or the pin", pin, pins)
	}
	// During a rotation the chain also carries a CA certificate of the
	// other key, cross-certified by the pinned one: the pinned key vouches
	// for it, so it anchors the chain as well as the pinned certificate.
	for _, c := range seen {
		inter.AddCert(c)
		for _, p := range pinned {
			if c.IsCA && c.CheckSignatureFrom(p) == nil {
				roots.AddCert(c)
			}
		}
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: serverName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("the proxy's certificate: %w", err)
	}
	return VerifyProxyIdentity(certs[:1], "", "")
}

// TLSWithCAs returns a client configuration trusting the given CA
// certificates (DER) for serverName.
func TLSWithCAs(cas [][]byte, serverName string, nextProtos ...string) (*tls.Config, error) {
	pool := x509.NewCertPool()
	for _, der := range cas {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("parsing a CA certificate: %w", err)
		}
		pool.AddCert(c)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: serverName, NextProtos: nextProtos}, nil
}

// RequireHostIdentity makes cfg accept only a server whose certificate
// carries a cluster host identity, not merely one signed by the host
// authority: the serving certificates given to protocol plugins for
// clients' TLS (HostRequest.ServeOnly) must not pass for the proxy with
// agents or keyway clients.
func RequireHostIdentity(cfg *tls.Config) *tls.Config {
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return VerifyProxyIdentity(cs.PeerCertificates, "", "")
	}
	return cfg
}
