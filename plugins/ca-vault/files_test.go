package cavault

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// testCA is an operator's CA written to files.
type testCA struct {
	cert              *x509.Certificate
	certFile, keyFile string
}

// writeCA creates a CA for name in dir; edit may change its template.
func writeCA(t *testing.T, dir, name string, edit func(*x509.Certificate)) testCA {
	t.Helper()
	key := ecKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "operator " + name + " CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := testCA{cert: cert, certFile: filepath.Join(dir, name+".crt"), keyFile: filepath.Join(dir, name+".key")}
	writePEM(t, ca.certFile, "CERTIFICATE", der)
	writeKeyPEM(t, ca.keyFile, key)
	return ca
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeKeyPEM(t *testing.T, path string, key crypto.Signer) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "PRIVATE KEY", der)
}

// fileSetup is four operator CAs and the configuration naming them.
type fileSetup struct {
	dir  string
	cas  map[sdk.Authority]testCA
	auth []map[string]string
}

func newFileSetup(t *testing.T) *fileSetup {
	t.Helper()
	s := &fileSetup{dir: t.TempDir(), cas: map[sdk.Authority]testCA{}}
	for _, a := range authorities() {
		ca := writeCA(t, s.dir, a.String(), nil)
		s.cas[a] = ca
		s.auth = append(s.auth, map[string]string{"type": a.String(), "cert_file": ca.certFile, "key_file": ca.keyFile})
	}
	return s
}

func (s *fileSetup) config() map[string]any {
	return map[string]any{"backend": "file", "authority": s.auth}
}

func TestFileBackend(t *testing.T) {
	s := newFileSetup(t)
	clock := newFakeClock()
	v := configure(t, clock, t.TempDir(), s.config())
	ctx := context.Background()
	if err := v.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	states := authorityStates(t, v)
	for _, a := range authorities() {
		st := states[a]
		if st.Phase != sdk.PhaseStandby || len(st.Certificates) != 1 || !bytes.Equal(st.Certificates[0], s.cas[a].cert.Raw) {
			t.Errorf("%s: state does not hold exactly the operator's CA certificate", a)
		}
		req := signRequest(t, a, clock.now())
		leaf := sign(t, v, req)
		if err := verifies(leaf, poolOf(t, st), clock.now(), x509.ExtKeyUsageClientAuth); err != nil {
			t.Errorf("%s: leaf does not verify against the operator's CA: %v", a, err)
		}
	}
	_, err := v.Rotate(ctx, sdk.RotateRequest{Authority: sdk.AuthorityUser, Phase: sdk.PhaseInit, Grace: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "file backend cannot rotate") {
		t.Fatalf("Rotate on the file backend: %v", err)
	}
}

func TestFileBackendChainFile(t *testing.T) {
	s := newFileSetup(t)
	// The db authority's file holds the CA followed by a parent.
	parent := writeCA(t, s.dir, "parent", nil)
	data, _ := os.ReadFile(s.cas[sdk.AuthorityDB].certFile)
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: parent.cert.Raw})...)
	if err := os.WriteFile(s.cas[sdk.AuthorityDB].certFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	v := configure(t, clock, t.TempDir(), s.config())
	resp, err := v.Sign(context.Background(), signRequest(t, sdk.AuthorityDB, clock.now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Chain) != 2 || !bytes.Equal(resp.Chain[0], s.cas[sdk.AuthorityDB].cert.Raw) || !bytes.Equal(resp.Chain[1], parent.cert.Raw) {
		t.Fatal("chain is not the CA followed by its parent")
	}
}

func TestFileBackendBadInput(t *testing.T) {
	tests := []struct {
		name string
		// edit breaks the setup; it may change files or the blocks.
		edit     func(t *testing.T, s *fileSetup)
		wantPath string
		wantMsg  []string
	}{
		{"cert file missing", func(t *testing.T, s *fileSetup) {
			s.auth[0]["cert_file"] = filepath.Join(s.dir, "nope.crt")
		}, "authority.cert_file", []string{"user authority", "cannot read certificate file", "nope.crt", "no such file"}},
		{"key file unreadable (a directory)", func(t *testing.T, s *fileSetup) {
			s.auth[1]["key_file"] = s.dir
		}, "authority.key_file", []string{"host authority", "cannot read key file", "is a directory"}},
		{"cert file not PEM", func(t *testing.T, s *fileSetup) {
			overwrite(t, s.cas[sdk.AuthorityDB].certFile, "this is not PEM\n")
		}, "authority.cert_file", []string{"db authority", "db.crt", "malformed PEM", "no CERTIFICATE block"}},
		{"cert file holds a key", func(t *testing.T, s *fileSetup) {
			data, _ := os.ReadFile(s.cas[sdk.AuthorityDB].keyFile)
			overwrite(t, s.cas[sdk.AuthorityDB].certFile, string(data))
		}, "authority.cert_file", []string{"db.crt", "malformed PEM", `"PRIVATE KEY" block`}},
		{"cert PEM with garbage DER", func(t *testing.T, s *fileSetup) {
			writePEM(t, s.cas[sdk.AuthorityDB].certFile, "CERTIFICATE", []byte("garbage"))
		}, "authority.cert_file", []string{"db.crt", "malformed certificate 1"}},
		{"key file not PEM", func(t *testing.T, s *fileSetup) {
			overwrite(t, s.cas[sdk.AuthorityDBClient].keyFile, "secret\n")
		}, "authority.key_file", []string{"db-client authority", "db-client.key", "malformed PEM"}},
		{"key PEM with garbage DER", func(t *testing.T, s *fileSetup) {
			writePEM(t, s.cas[sdk.AuthorityDBClient].keyFile, "EC PRIVATE KEY", []byte("garbage"))
		}, "authority.key_file", []string{"db-client.key", "malformed private key"}},
		{"key file holds a certificate", func(t *testing.T, s *fileSetup) {
			data, _ := os.ReadFile(s.cas[sdk.AuthorityDBClient].certFile)
			overwrite(t, s.cas[sdk.AuthorityDBClient].keyFile, string(data))
		}, "authority.key_file", []string{"db-client.key", `"CERTIFICATE" block is not a private key`}},
		{"key does not match certificate", func(t *testing.T, s *fileSetup) {
			s.auth[0]["key_file"] = s.cas[sdk.AuthorityHost].keyFile
		}, "authority.key_file", []string{"user authority", "host.key", "does not match", "user.crt"}},
		{"certificate is not a CA", func(t *testing.T, s *fileSetup) {
			ca := writeCA(t, s.dir, "leaf", func(c *x509.Certificate) { c.IsCA = false; c.KeyUsage = x509.KeyUsageDigitalSignature })
			s.auth[2]["cert_file"], s.auth[2]["key_file"] = ca.certFile, ca.keyFile
		}, "authority.cert_file", []string{"db authority", "leaf.crt", "not a CA certificate", "CA:TRUE"}},
		{"certificate without basic constraints", func(t *testing.T, s *fileSetup) {
			ca := writeCA(t, s.dir, "nobc", func(c *x509.Certificate) { c.BasicConstraintsValid, c.IsCA = false, false })
			s.auth[2]["cert_file"], s.auth[2]["key_file"] = ca.certFile, ca.keyFile
		}, "authority.cert_file", []string{"nobc.crt", "not a CA certificate"}},
		{"CA without keyCertSign", func(t *testing.T, s *fileSetup) {
			ca := writeCA(t, s.dir, "nosign", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature })
			s.auth[2]["cert_file"], s.auth[2]["key_file"] = ca.certFile, ca.keyFile
		}, "authority.cert_file", []string{"nosign.crt", "keyCertSign"}},
		{"expired CA", func(t *testing.T, s *fileSetup) {
			ca := writeCA(t, s.dir, "old", func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
			})
			s.auth[3]["cert_file"], s.auth[3]["key_file"] = ca.certFile, ca.keyFile
		}, "authority.cert_file", []string{"old.crt", "expired"}},
		{"missing authorities", func(t *testing.T, s *fileSetup) {
			s.auth = s.auth[:2]
		}, "authority", []string{"needs an authority block for db, db-client"}},
		{"no authority at all", func(t *testing.T, s *fileSetup) {
			s.auth = nil
		}, "authority", []string{"user, host, db, db-client"}},
		{"authority twice", func(t *testing.T, s *fileSetup) {
			s.auth[1]["type"] = "user"
		}, "authority.type", []string{"user authority is configured twice"}},
		{"unknown authority type", func(t *testing.T, s *fileSetup) {
			s.auth[1]["type"] = "admin"
		}, "authority.type", []string{`unknown authority type "admin"`}},
		{"same key for two authorities", func(t *testing.T, s *fileSetup) {
			s.auth[1]["cert_file"], s.auth[1]["key_file"] = s.auth[0]["cert_file"], s.auth[0]["key_file"]
		}, "authority.cert_file", []string{"same key as the user authority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFileSetup(t)
			tt.edit(t, s)
			_, err := tryConfigure(nil, t.TempDir(), s.config())
			if err == nil {
				t.Fatal("Configure succeeded")
			}
			diags := diagnosticsOf(t, err)
			var d *sdk.Diagnostic
			for i := range diags {
				if diags[i].Path == tt.wantPath {
					d = &diags[i]
					break
				}
			}
			if d == nil {
				t.Fatalf("no diagnostic for %q in %v", tt.wantPath, diags)
			}
			text := d.Summary + " " + d.Detail
			for _, m := range tt.wantMsg {
				if !strings.Contains(text, m) {
					t.Errorf("diagnostic %q lacks %q", text, m)
				}
			}
			t.Log(diags)
		})
	}
}

func overwrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
