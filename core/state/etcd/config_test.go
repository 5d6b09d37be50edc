package etcd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	ca, cert, key := writeCert(t)
	tests := []struct {
		name     string
		cfg      Config
		wantErr  bool
		wantTLS  bool
		wantCert bool
	}{
		{name: "plain", cfg: Config{Endpoints: []string{"http://127.0.0.1:2379"}}},
		{name: "no endpoints", cfg: Config{}, wantErr: true},
		{name: "cert without key", cfg: Config{Endpoints: []string{"x"}, CertFile: cert}, wantErr: true},
		{name: "CA only", cfg: Config{Endpoints: []string{"x"}, CAFile: ca}, wantTLS: true},
		{name: "CA and client certificate", cfg: Config{Endpoints: []string{"x"}, CAFile: ca, CertFile: cert, KeyFile: key}, wantTLS: true, wantCert: true},
		{name: "missing CA file", cfg: Config{Endpoints: []string{"x"}, CAFile: filepath.Join(t.TempDir(), "none")}, wantErr: true},
		{name: "CA file without PEM", cfg: Config{Endpoints: []string{"x"}, CAFile: key + ".empty"}, wantErr: true},
		{name: "key that does not match", cfg: Config{Endpoints: []string{"x"}, CertFile: cert, KeyFile: ca}, wantErr: true},
	}
	if err := os.WriteFile(key+".empty", []byte("no pem here"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg.withDefaults()
			if cfg.Prefix != DefaultPrefix || cfg.DialTimeout != DefaultDialTimeout || cfg.WatchBuffer != DefaultWatchBuffer {
				t.Errorf("defaults not applied: %+v", cfg)
			}
			err := cfg.validate()
			var tlsCfg any
			if err == nil {
				c, terr := cfg.tlsConfig()
				err = terr
				if c != nil {
					tlsCfg = c
					if got := len(c.Certificates) > 0; got != tt.wantCert {
						t.Errorf("client certificate: %v, want %v", got, tt.wantCert)
					}
				}
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error: %v", err, tt.wantErr)
			}
			if err == nil && (tlsCfg != nil) != tt.wantTLS {
				t.Errorf("TLS on: %v, want %v", tlsCfg != nil, tt.wantTLS)
			}
		})
	}
}

// writeCert writes a self-signed certificate (also its own CA) and its key.
func writeCert(t *testing.T) (ca, cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "keyway test"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert = filepath.Join(dir, "cert.pem")
	key = filepath.Join(dir, "key.pem")
	writePEM(t, cert, "CERTIFICATE", der)
	writePEM(t, key, "PRIVATE KEY", keyDER)
	return cert, cert, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
