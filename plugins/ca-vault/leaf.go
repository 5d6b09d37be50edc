package cavault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// minRSABits is the smallest RSA key the CA certifies.
const minRSABits = 2048

// idCE is the arc of the standard certificate extensions (RFC 5280): the
// CA sets those itself, a request may not.
var idCE = asn1.ObjectIdentifier{2, 5, 29}

// leafTemplate checks req and turns it into the template of an end-entity
// certificate for pub, issued under ca.
func leafTemplate(req sdk.SignRequest, pub crypto.PublicKey, ca *x509.Certificate) (*x509.Certificate, error) {
	keyUsage, err := keyUsageFor(pub)
	if err != nil {
		return nil, err
	}
	if err := checkValidity(req.NotBefore, req.NotAfter, ca); err != nil {
		return nil, err
	}
	extUsage, err := extKeyUsages(req.Usages)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := keyID(pub)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName},
		DNSNames:              req.DNSNames,
		NotBefore:             req.NotBefore,
		NotAfter:              req.NotAfter,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           extUsage,
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski,
		AuthorityKeyId:        ca.SubjectKeyId,
	}
	if tmpl.IPAddresses, err = parseIPs(req.IPAddresses); err != nil {
		return nil, err
	}
	if tmpl.URIs, err = parseURIs(req.URIs); err != nil {
		return nil, err
	}
	if req.CommonName == "" && len(tmpl.DNSNames)+len(tmpl.IPAddresses)+len(tmpl.URIs) == 0 {
		return nil, errors.New("the request names no subject: give a common name or a DNS name, IP address or URI")
	}
	if tmpl.ExtraExtensions, err = checkExtensions(req.Extensions); err != nil {
		return nil, err
	}
	return tmpl, nil
}

// keyUsageFor refuses keys the CA does not certify and returns the key
// usage of a certificate for pub.
func keyUsageFor(pub crypto.PublicKey) (x509.KeyUsage, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return 0, fmt.Errorf("the CSR's RSA key has %d bits; at least %d are needed", k.N.BitLen(), minRSABits)
		}
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, nil
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return x509.KeyUsageDigitalSignature, nil
	}
	return 0, fmt.Errorf("the CSR's key is a %T; want RSA, ECDSA or Ed25519", pub)
}

// checkValidity refuses a validity period that is unset, empty, or
// outlives the issuing CA.
func checkValidity(notBefore, notAfter time.Time, ca *x509.Certificate) error {
	const layout = time.RFC3339
	switch {
	case notBefore.Unix() <= 0:
		return errors.New("the request has no NotBefore")
	case notAfter.Unix() <= 0:
		return errors.New("the request has no NotAfter")
	case !notAfter.After(notBefore):
		return fmt.Errorf("NotAfter %s is not after NotBefore %s", notAfter.UTC().Format(layout), notBefore.UTC().Format(layout))
	case notAfter.After(ca.NotAfter):
		return fmt.Errorf("NotAfter %s is beyond the CA certificate's NotAfter %s; ask for a shorter TTL or rotate the authority", notAfter.UTC().Format(layout), ca.NotAfter.UTC().Format(layout))
	}
	return nil
}

// extKeyUsages maps "server" and "client" to their extended key usages.
func extKeyUsages(usages []string) ([]x509.ExtKeyUsage, error) {
	if len(usages) == 0 {
		return nil, errors.New(`the request has no usage; want "server", "client" or both`)
	}
	var out []x509.ExtKeyUsage
	seen := map[x509.ExtKeyUsage]bool{}
	for _, u := range usages {
		var eku x509.ExtKeyUsage
		switch u {
		case "server":
			eku = x509.ExtKeyUsageServerAuth
		case "client":
			eku = x509.ExtKeyUsageClientAuth
		default:
			return nil, fmt.Errorf(`unknown usage %q; want "server" or "client"`, u)
		}
		if !seen[eku] {
			seen[eku] = true
			out = append(out, eku)
		}
	}
	return out, nil
}

func parseIPs(ips []string) ([]net.IP, error) {
	out := make([]net.IP, 0, len(ips))
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("%q is not an IP address", s)
		}
		out = append(out, ip)
	}
	return out, nil
}

func parseURIs(uris []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(uris))
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("URI %q: %w", s, err)
		}
		if u.Scheme == "" {
			return nil, fmt.Errorf("URI %q has no scheme", s)
		}
		out = append(out, u)
	}
	return out, nil
}

// checkExtensions refuses extra extensions that would override what the
// CA decides (basic constraints, key usage, names...) or repeat.
func checkExtensions(exts []pkix.Extension) ([]pkix.Extension, error) {
	seen := map[string]bool{}
	for _, e := range exts {
		if len(e.Id) > len(idCE) && e.Id[:len(idCE)].Equal(idCE) {
			return nil, fmt.Errorf("extension %s is a standard certificate extension that only the CA sets", e.Id)
		}
		if seen[e.Id.String()] {
			return nil, fmt.Errorf("extension %s appears twice", e.Id)
		}
		seen[e.Id.String()] = true
	}
	return exts, nil
}
