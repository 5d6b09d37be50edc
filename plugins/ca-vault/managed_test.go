package cavault

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var managedConfig = map[string]any{"backend": "managed"}

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
