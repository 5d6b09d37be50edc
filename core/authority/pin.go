package authority

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// PinnedTLS returns a client configuration that trusts the server only
// if its chain contains a certificate whose SubjectPublicKeyInfo has the
// given pin and which signed the server's certificate for serverName:
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
	roots := x509.NewCertPool()
	var seen []string
	for _, c := range certs[1:] {
		p, _ := Pin(c.Raw)
		seen = append(seen, p)
		if p == pin {
			roots.AddCert(c)
		}
	}
	if len(seen) == 0 || !containsPin(seen, pin) {
		return fmt.Errorf("the proxy's host authority does not match the expected pin %s (it presented %v); check the address or the pin", pin, seen)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: serverName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("the proxy's certificate: %w", err)
	}
	return VerifyProxyIdentity(certs[:1], "", "")
}

func containsPin(pins []string, pin string) bool {
	for _, p := range pins {
		if p == pin {
			return true
		}
	}
	return false
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
