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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeCA makes a throwaway CA and a server and client certificate from
// it, enough to prove the harness runs PostgreSQL with TLS and cert auth.
func writeCA(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(name string, cn string, ip bool, usage x509.ExtKeyUsage, serial int64) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalPKCS8PrivateKey(key)
		_ = os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
		_ = os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	}
	leaf("server", "127.0.0.1", true, x509.ExtKeyUsageServerAuth, 2)
	leaf("client", "postgres", false, x509.ExtKeyUsageClientAuth, 3)
	_ = os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	return dir
}

func TestServerWithTLSAndCertAuth(t *testing.T) {
	dir := writeCA(t)
	s := Start(t, Options{
		CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key"),
		CAFile: filepath.Join(dir, "ca.crt"),
	})
	if got := s.SQL(t, "select 40 + 2"); got != "42" {
		t.Fatalf("select over the socket = %q", got)
	}
	conn := "host=127.0.0.1 port=" + strconv.Itoa(s.Port) + " user=postgres dbname=postgres sslmode=verify-full" +
		" sslrootcert=" + filepath.Join(dir, "ca.crt") +
		" sslcert=" + filepath.Join(dir, "client.crt") + " sslkey=" + filepath.Join(dir, "client.key")
	out, err := exec.Command("psql", "-X", "-A", "-t", conn, "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "t" {
		t.Fatalf("psql over TLS with a client certificate: %v\n%s", err, out)
	}
	noCert := "host=127.0.0.1 port=" + strconv.Itoa(s.Port) + " user=postgres dbname=postgres sslmode=require"
	out, err = exec.Command("psql", "-X", noCert, "-c", "select 1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "certificate") {
		t.Fatalf("a connection without a client certificate was not refused: %v\n%s", err, out)
	}
}

// TestMaxConnections: max_connections is 200 unless a test's Settings say
// otherwise.
func TestMaxConnections(t *testing.T) {
	dir := writeCA(t)
	tests := []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"default", nil, "200"},
		{"set by the test", map[string]string{"max_connections": "600"}, "600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, Options{
				CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key"),
				CAFile: filepath.Join(dir, "ca.crt"), Settings: tt.settings,
			})
			if got := s.SQL(t, "show max_connections"); got != tt.want {
				t.Fatalf("max_connections = %s, want %s", got, tt.want)
			}
		})
	}
}
