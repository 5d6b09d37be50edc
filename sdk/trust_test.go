package sdk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testCA makes a CA and a server certificate for name from it.
func testCA(t testing.TB, name string) (caPEM []byte, server tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test db CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serveTLS accepts TLS connections with cert until the test ends, and
// closes each after its handshake.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	return serveTLSWith(t, &tls.Config{Certificates: []tls.Certificate{cert}}, func(c net.Conn) {
		_ = c.(*tls.Conn).Handshake()
	})
}

// serveTLSWith accepts TLS connections with cfg until the test ends,
// and closes each once handle returns.
func serveTLSWith(t *testing.T, cfg *tls.Config, handle func(net.Conn)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { handle(c); _ = c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestServerTrust(t *testing.T) {
	caPEM, server := testCA(t, "db.internal")
	otherPEM, _ := testCA(t, "db.internal")
	addr := serveTLS(t, server)
	tests := []struct {
		name  string
		trust ServerTrust
		want  string // "" for success, else part of the error
	}{
		{"verify-full checks the dialled name", ServerTrust{CAPEM: caPEM}, "127.0.0.1"},
		{"server_name overrides the name", ServerTrust{CAPEM: caPEM, ServerName: "db.internal"}, ""},
		{"verify-ca accepts another name", ServerTrust{CAPEM: caPEM, Mode: VerifyCA}, ""},
		{"verify-ca still checks the chain", ServerTrust{CAPEM: otherPEM, Mode: VerifyCA}, "unknown authority"},
		{"another CA is refused", ServerTrust{CAPEM: otherPEM, ServerName: "db.internal"}, "unknown authority"},
		{"the system pool does not know a private CA", ServerTrust{SystemPool: true, ServerName: "db.internal"}, "unknown authority"},
		{"no CA at all", ServerTrust{}, "no CA to verify"},
		{"unknown mode", ServerTrust{CAPEM: caPEM, Mode: "prefer"}, "unknown trust mode"},
		{"a CA file without PEM", ServerTrust{CAPEM: []byte("nonsense")}, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.trust.ClientConfig(addr, tls.Certificate{})
			if err == nil {
				var c *tls.Conn
				c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
				if err == nil {
					_ = c.Close()
				}
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
