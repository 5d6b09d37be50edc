package cavault

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

var managedConfig = map[string]any{"backend": "managed"}

func TestManagedCreatesFourSeparateAuthorities(t *testing.T) {
	clock := newFakeClock()
	v := configure(t, clock, t.TempDir(), managedConfig)
	if err := v.Health(context.Background()); err != nil {
		t.Fatalf("Health: %v", err)
	}
	states := authorityStates(t, v)
	seenKeys := map[string]sdk.Authority{}
	for _, a := range authorities() {
		st := states[a]
		if st.Phase != "active" || len(st.Certificates) != 1 || !st.GraceEnds.IsZero() {
			t.Fatalf("%s: phase %q, %d certs, grace ends %v; want one active cert", a, st.Phase, len(st.Certificates), st.GraceEnds)
		}
		ca := parseCerts(t, st.Certificates)[0]
		if want := "keyway example " + a.String() + " CA"; ca.Subject.CommonName != want {
			t.Errorf("%s: CN %q, want %q", a, ca.Subject.CommonName, want)
		}
		if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("%s: not a CA certificate", a)
		}
		if err := ca.CheckSignatureFrom(ca); err != nil {
			t.Errorf("%s: not self-signed: %v", a, err)
		}
		if got := ca.NotAfter.Sub(clock.now()); got < 9*365*24*time.Hour || got > 11*365*24*time.Hour {
			t.Errorf("%s: valid for %s, want about 10 years", a, got)
		}
		spki, err := x509.MarshalPKIXPublicKey(ca.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seenKeys[string(spki)]; dup {
			t.Errorf("%s and %s share a key", a, other)
		}
		seenKeys[string(spki)] = a
	}
}

func TestManagedRestartKeepsAuthorities(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	first := configure(t, clock, dir, managedConfig)
	before := authorityStates(t, first)
	leaf := sign(t, first, signRequest(t, sdk.AuthorityUser, clock.now()))

	second := configure(t, clock, dir, managedConfig)
	after := authorityStates(t, second)
	for _, a := range authorities() {
		if len(after[a].Certificates) != 1 || !bytes.Equal(before[a].Certificates[0], after[a].Certificates[0]) {
			t.Errorf("%s: the CA certificate changed across a restart", a)
		}
	}
	// The restarted instance signs with the same key: its leaf and the
	// first instance's verify against the same pool.
	pool := poolOf(t, before[sdk.AuthorityUser])
	leaf2 := sign(t, second, signRequest(t, sdk.AuthorityUser, clock.now()))
	for _, l := range []*x509.Certificate{leaf, leaf2} {
		if err := verifies(l, pool, clock.now(), x509.ExtKeyUsageClientAuth); err != nil {
			t.Errorf("leaf does not verify after restart: %v", err)
		}
	}
}

func TestManagedFileModes(t *testing.T) {
	dir := t.TempDir()
	configure(t, newFakeClock(), dir, managedConfig)
	var files int
	err := filepath.WalkDir(filepath.Join(dir, managedDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := privateFileMode
		if d.IsDir() {
			want = privateDirMode
		} else {
			files++
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// kek, index, and a certificate and key for each authority.
	if files != 2+2*4 {
		t.Errorf("found %d files, want 10", files)
	}
}

func TestManagedKeysEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	v := configure(t, newFakeClock(), dir, managedConfig)
	m := v.backend.(*keyring)
	var secrets [][]byte
	for _, a := range authorities() {
		der, err := x509.MarshalPKCS8PrivateKey(m.chains[a][0].signer)
		if err != nil {
			t.Fatal(err)
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		secrets = append(secrets, der, pemKey, []byte(base64.StdEncoding.EncodeToString(der)[:40]))
	}
	keyFiles, _ := filepath.Glob(filepath.Join(dir, managedDir, "*"+keySuffix))
	if len(keyFiles) != 4 {
		t.Fatalf("found %d key files, want 4", len(keyFiles))
	}
	for _, f := range keyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("PRIVATE KEY")) {
			t.Errorf("%s holds a PEM private key in clear", f)
		}
		for _, s := range secrets {
			if bytes.Contains(data, s) {
				t.Errorf("%s contains a private key in clear", f)
			}
		}
	}
}

func TestManagedRSA(t *testing.T) {
	clock := newFakeClock()
	v := configure(t, clock, t.TempDir(), map[string]any{"key_algorithm": "rsa-2048"})
	ca := parseCerts(t, authorityStates(t, v)[sdk.AuthorityDB].Certificates)[0]
	if k, ok := ca.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("db CA key is %T, want a 2048-bit RSA key", ca.PublicKey)
	}
	req := signRequest(t, sdk.AuthorityDB, clock.now())
	req.CSR = makeCSR(t, rsaKey(t, 2048))
	req.Usages = []string{"server"}
	req.DNSNames = []string{"db.example.com"}
	leaf := sign(t, v, req)
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("RSA leaf key usage %b, want digitalSignature|keyEncipherment", leaf.KeyUsage)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "db.example.com", CurrentTime: clock.now()}); err != nil {
		t.Fatalf("RSA leaf does not verify: %v", err)
	}
}

func TestManagedRefusesDamagedState(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantMsg string
	}{
		{"index removed", func(t *testing.T, dir string) {
			mustRemove(t, filepath.Join(dir, indexFile))
		}, "refusing to create new authorities"},
		{"kek readable by others", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, kekFile), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "lets group or others in"},
		{"kek replaced", func(t *testing.T, dir string) {
			kek, _ := newKEK()
			if err := writePrivateFile(filepath.Join(dir, kekFile), kek); err != nil {
				t.Fatal(err)
			}
		}, "does not decrypt"},
		{"key file altered", func(t *testing.T, dir string) {
			f := firstGlob(t, filepath.Join(dir, "user-*"+keySuffix))
			data, _ := os.ReadFile(f)
			block, _ := pem.Decode(data)
			block.Bytes[len(block.Bytes)-1] ^= 1
			if err := writePrivateFile(f, pem.EncodeToMemory(block)); err != nil {
				t.Fatal(err)
			}
		}, "does not decrypt"},
		{"key files swapped between authorities", func(t *testing.T, dir string) {
			u, h := firstGlob(t, filepath.Join(dir, "user-*"+keySuffix)), firstGlob(t, filepath.Join(dir, "host-*"+keySuffix))
			ud, _ := os.ReadFile(u)
			hd, _ := os.ReadFile(h)
			if writePrivateFile(u, hd) != nil || writePrivateFile(h, ud) != nil {
				t.Fatal("swapping failed")
			}
		}, "does not decrypt"},
		{"certificate missing", func(t *testing.T, dir string) {
			mustRemove(t, firstGlob(t, filepath.Join(dir, "db-client-*"+certSuffix)))
		}, "cannot read certificate file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			configure(t, nil, dataDir, managedConfig)
			tt.damage(t, filepath.Join(dataDir, managedDir))
			_, err := tryConfigure(nil, dataDir, managedConfig)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Configure error %v, want one containing %q", err, tt.wantMsg)
			}
			t.Log(err)
		})
	}
}

func TestManagedNeedsDataDir(t *testing.T) {
	if _, err := tryConfigure(nil, "", managedConfig); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Fatalf("Configure without a data directory: %v", err)
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func firstGlob(t *testing.T, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	return m[0]
}
