package pgtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSFiles are PEM files of a throwaway CA, a server certificate for
// 127.0.0.1 and client certificates, for a server that is not a keyway
// cluster's database (an audit database, for example).
type TLSFiles struct {
	// Dir holds the files.
	Dir string
	// CA is the CA's certificate (ca.crt), which signed all the others.
	CA string
	// ServerCert and ServerKey are server.crt and server.key.
	ServerCert, ServerKey string
}

// Options returns pgtest options that serve these files and trust the CA
// for client certificates.
func (f TLSFiles) Options() Options {
	return Options{CertFile: f.ServerCert, KeyFile: f.ServerKey, CAFile: f.CA}
}

// Client returns the certificate and key files of client cn.
func (f TLSFiles) Client(cn string) (cert, key string) {
	return filepath.Join(f.Dir, cn+".crt"), filepath.Join(f.Dir, cn+".key")
}

// WriteTLSFiles makes a CA valid for an hour, a server certificate for
// 127.0.0.1 and, for each of clientCNs, a client certificate CN.crt with
// its key CN.key (mode 0600), in a temporary directory of the test.
func WriteTLSFiles(t testing.TB, clientCNs ...string) TLSFiles {
	t.Helper()
	dir := t.TempDir()
	f := TLSFiles{Dir: dir, CA: filepath.Join(dir, "ca.crt"), ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key")}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pgtest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write := func(path string, typ string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	leaf := func(name, cn string, server bool, serial int64) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
		write(filepath.Join(dir, name+".key"), "PRIVATE KEY", kb)
	}
	leaf("server", "127.0.0.1", true, 2)
	for i, cn := range clientCNs {
		leaf(cn, cn, false, int64(3+i))
	}
	write(f.CA, "CERTIFICATE", caDER)
	return f
}
