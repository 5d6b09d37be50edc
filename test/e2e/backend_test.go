package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-dev/keyway/core/authority"
)

// operatorCAs writes four CA certificates and keys, as a company CA would
// hand them to keyway, and returns the HCL authority blocks naming them
// and each authority's pin.
func operatorCAs(t *testing.T) (blocks string, pins map[string]string) {
	t.Helper()
	dir := t.TempDir()
	pins = map[string]string{}
	for i, typ := range []string{"user", "host", "db", "db-client"} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(100 + i)), Subject: pkix.Name{Organization: []string{"Example Corp"}, CommonName: "Example " + typ + " CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(5, 0, 0),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, _ := authority.KeyPEM(key)
		certFile, keyFile := filepath.Join(dir, typ+".crt"), filepath.Join(dir, typ+".key")
		if err := os.WriteFile(certFile, authority.CertsPEM(der), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if pins[typ], err = authority.Pin(der); err != nil {
			t.Fatal(err)
		}
		blocks += fmt.Sprintf("    authority {\n      type      = %q\n      cert_file = %q\n      key_file  = %q\n    }\n", typ, certFile, keyFile)
	}
	return blocks, pins
}

// pinOf reads one authority's pin from `keyway status`.
func pinOf(status, typ string) string {
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == typ {
			return f[2]
		}
	}
	return ""
}

func TestSwitchingCABackendIsAConfigEditAndARestart(t *testing.T) {
	c := newCluster(t, "")
	n := startNode(t, c.cfg, c.data)
	managedPin := pinOf(kw(t, "status", "-c", c.cfg), "db")
	if !strings.HasPrefix(managedPin, "sha256:") {
		t.Fatalf("no db pin in status")
	}
	signal(t, n.cmd.Process.Pid, syscall.SIGTERM)
	<-n.exited

	blocks, pins := operatorCAs(t)
	edited := fmt.Sprintf("cluster_name = \"e2e\"\ndata_dir = %q\n\nplugin \"ca-vault\" {\n  config {\n    backend = \"file\"\n%s  }\n}\n", c.data, blocks)
	if err := os.WriteFile(c.cfg, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	startNode(t, c.cfg, c.data)
	status := kw(t, "status", "-c", c.cfg)
	for typ, want := range pins {
		if got := pinOf(status, typ); got != want {
			t.Fatalf("after switching to the file backend the %s pin is %q, want the operator's %q\n%s", typ, got, want, status)
		}
	}
	if pinOf(status, "db") == managedPin {
		t.Fatal("the db pin did not change")
	}

	// The same signing flow works against the operator's CAs.
	pg := postgresFor(t, c)
	client := c.dbClient(t, "pg", "postgres")
	if got, err := login(pg, "postgres", c.export(t, "db"), client); err != nil || got != "postgres" {
		t.Fatalf("login with certificates from the file backend: %q, %v", got, err)
	}
	if out := kwFails(t, "auth", "rotate", "--type=db", "-c", c.cfg); !strings.Contains(out, "file") {
		t.Fatalf("rotating a file-backed authority: %s", out)
	}
}

func TestFileBackendBadInputNamesTheFile(t *testing.T) {
	blocks, _ := operatorCAs(t)
	notPEM := filepath.Join(t.TempDir(), "junk.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Point the user authority's certificate at a file that is not PEM.
	start := strings.Index(blocks, "cert_file = \"") + len("cert_file = \"")
	end := start + strings.Index(blocks[start:], "\"")
	broken := blocks[:start] + notPEM + blocks[end:]
	c := newCluster(t, fmt.Sprintf("plugin \"ca-vault\" {\n  config {\n    backend = \"file\"\n%s  }\n}\n", broken))
	out := kwFails(t, "config", "validate", "-c", c.cfg)
	if !strings.Contains(out, notPEM) || !strings.Contains(out, "keyway.hcl:") || !strings.Contains(out, "PEM") {
		t.Fatalf("validate output should name the file, the position and the problem:\n%s", out)
	}
}
