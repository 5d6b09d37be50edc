package sdk

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// Trust modes for a database server's certificate.
const (
	// VerifyFull checks the chain and that the certificate names the
	// server (the default).
	VerifyFull = "verify-full"
	// VerifyCA checks the chain only.
	VerifyCA = "verify-ca"
)

// ServerTrust says how to verify a database server's certificate: against
// the cluster's db authority or a custom CA (CAPEM), or the system's roots
// (SystemPool), in VerifyFull or VerifyCA mode, optionally checking
// ServerName instead of the host being dialled.
type ServerTrust struct {
	Mode       string
	CAPEM      []byte
	SystemPool bool
	ServerName string
}

// ClientConfig returns the TLS configuration to dial a database at addr
// (HOST:PORT) presenting cert.
func (t ServerTrust) ClientConfig(addr string, cert tls.Certificate) (*tls.Config, error) {
	roots, err := t.roots()
	if err != nil {
		return nil, err
	}
	return t.clientConfig(addr, cert, roots, new(verifiedChains))
}

// clientConfig is ClientConfig with the pool given and the server's chain
// checked through chains.
func (t ServerTrust) clientConfig(addr string, cert tls.Certificate, roots *x509.CertPool, chains *verifiedChains) (*tls.Config, error) {
	name := t.ServerName
	if name == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("database address %q: %w", addr, err)
		}
		name = host
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		ServerName:   name,
		MinVersion:   tls.VersionTLS12,
	}
	switch t.Mode {
	case "", VerifyFull:
		chains.verifyServerWith(cfg, roots, name)
		return cfg, nil
	case VerifyCA:
		// The chain only: no name is checked.
		chains.verifyServerWith(cfg, roots, "")
		return cfg, nil
	}
	return nil, fmt.Errorf("unknown trust mode %q: use %s or %s", t.Mode, VerifyFull, VerifyCA)
}

func (t ServerTrust) roots() (*x509.CertPool, error) {
	var pool *x509.CertPool
	if t.SystemPool {
		sys, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("loading the system's certificate pool: %w", err)
		}
		pool = sys
	} else {
		pool = x509.NewCertPool()
	}
	if len(t.CAPEM) > 0 && !pool.AppendCertsFromPEM(t.CAPEM) {
		return nil, errors.New("the database's CA certificates hold no PEM certificate")
	}
	if len(t.CAPEM) == 0 && !t.SystemPool {
		return nil, errors.New("no CA to verify the database server with")
	}
	return pool, nil
}
