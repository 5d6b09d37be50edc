package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imageManifest is the manifest.json of an image archive.
type imageManifest []struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// imageConfig is the part of an image's configuration the test reads.
type imageConfig struct {
	OS, Architecture string
	Config           struct {
		User       string
		Entrypoint []string
		Cmd        []string
	}
}

// buildImage builds keyway's image archive with deploy/image, as
// `make image` does, from the binary under test.
func buildImage(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "keyway-image.tar")
	cmd := exec.Command("go", "run", ".", "-keyway", built.keyway, "-version", "e2e", "-out", archive)
	cmd.Dir = filepath.Join(root, "deploy", "image")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the image: %v\n%s", err, out)
	}
	return archive
}

// unpackImage reads the archive's manifest and configuration and
// extracts its layers, in order, into a new directory.
func unpackImage(t *testing.T, archive string) (imageConfig, string) {
	t.Helper()
	files := map[string][]byte{}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the image archive: %v", err)
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	var m imageManifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil || len(m) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	if len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != "keyway:e2e" {
		t.Fatalf("the image's tags: %v", m[0].RepoTags)
	}
	var cfg imageConfig
	if err := json.Unmarshal(files[m[0].Config], &cfg); err != nil {
		t.Fatalf("the image's configuration: %v", err)
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range m[0].Layers {
		zr, err := gzip.NewReader(strings.NewReader(string(files[l])))
		if err != nil {
			t.Fatalf("layer %s: %v", l, err)
		}
		extractLayer(t, tar.NewReader(zr), root)
	}
	return cfg, root
}

// extractLayer writes a layer's entries under root with their modes and
// owners.
func extractLayer(t *testing.T, tr *tar.Reader, root string) {
	t.Helper()
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			mode := os.FileMode(h.Mode).Perm() | stickyBit(h.Mode)
			if err = os.MkdirAll(path, mode); err == nil {
				err = os.Chmod(path, mode)
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, path)
		case tar.TypeReg:
			var data []byte
			if data, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(path, data, os.FileMode(h.Mode).Perm())
			}
		default:
			t.Fatalf("layer entry %s of type %c", h.Name, h.Typeflag)
		}
		if err == nil {
			err = os.Lchown(path, h.Uid, h.Gid)
		}
		if err != nil {
			t.Fatalf("extracting %s: %v", h.Name, err)
		}
	}
}

// stickyBit turns tar's mode bit for sticky directories (/tmp) into Go's.
func stickyBit(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// bindMount mounts what a container runtime gives every container: the
// host's /proc and /dev, under root, until the test ends.
func bindMount(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"/proc", "/dev"} {
		target := filepath.Join(root, d)
		if err := syscall.Mount(d, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			t.Fatalf("mounting %s in the image's root: %v", d, err)
		}
		t.Cleanup(func() {
			if err := syscall.Unmount(target, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmounting %s: %v", target, err)
			}
		})
	}
}

// inImage is a command run in the unpacked image as its user.
func inImage(root, user string, args ...string) *exec.Cmd {
	return exec.Command("chroot", append([]string{"--userspec=" + user, root}, args...)...)
}

// TestImageRunsKeywayAndAnAgent builds the container image without a
// daemon, unpacks it and runs keyway from it as the image's non-root
// user, as a container runtime would: version, config validate of the
// Helm charts' rendered configurations and of an agent's, and an agent
// that joins a cluster and serves a database that clients reach through
// the proxy.
func TestImageRunsKeywayAndAnAgent(t *testing.T) {
	cfg, root := unpackImage(t, buildImage(t))
	if cfg.OS != "linux" || cfg.Config.User != "65532:65532" || strings.Join(cfg.Config.Entrypoint, " ") != "/usr/local/bin/keyway" ||
		strings.Join(cfg.Config.Cmd, " ") != "start -c /etc/keyway/keyway.hcl" {
		t.Fatalf("the image's configuration: %+v", cfg)
	}
	bindMount(t, root)
	user := cfg.Config.User

	out, err := inImage(root, user, "/usr/local/bin/keyway", "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "plugin API") {
		t.Fatalf("keyway version in the image: %v\n%s", err, out)
	}

	// The Helm charts' configurations, as make helm-check renders them
	// with their ci values, pass keyway's own validation in the image,
	// with the files they name in place.
	etc := filepath.Join(root, "etc", "keyway")
	for _, dir := range []string{"trust/orders", "ca", "etcd"} {
		if err := os.MkdirAll(filepath.Join(etc, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeImageCA(t, filepath.Join(etc, "trust", "orders", "ca"))
	for _, ca := range []string{"user", "host", "db", "db-client"} {
		writeImageCA(t, filepath.Join(etc, "ca", ca))
	}
	writeImageCA(t, filepath.Join(etc, "etcd", "ca"))
	writeImageCA(t, filepath.Join(etc, "etcd", "tls"))
	for _, chart := range []string{"keyway-agent", "keyway-cluster"} {
		hcl := renderedConfig(t, filepath.Join("..", "..", "deploy", "helm", chart, "ci", "rendered.yaml"))
		if err := os.WriteFile(filepath.Join(etc, chart+".hcl"), []byte(hcl), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := inImage(root, user, "/usr/local/bin/keyway", "config", "validate", "-c", "/etc/keyway/"+chart+".hcl").CombinedOutput(); err != nil {
			t.Fatalf("config validate of the %s chart's configuration in the image: %v\n%s\n%s", chart, err, out, hcl)
		}
	}

	a := startAllInOne(t)
	token := filepath.Join(root, "etc", "keyway", "token")
	if err := os.WriteFile(token, []byte(kw(t, "tokens", "add", "--type=db", "--db-names=image-postgres", "--format=text", "-c", a.cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(token, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	agentCfg := fmt.Sprintf(`data_dir = "/var/lib/keyway"

db {
  proxy_addr = %q
  token_file = "/etc/keyway/token"
  agent_name = "image-agent"

  database "image-postgres" {
    protocol = "postgres"
    uri      = %q
  }
}
`, a.proxy, a.pg.Addr())
	if err := os.WriteFile(filepath.Join(root, "etc", "keyway", "keyway.hcl"), []byte(agentCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := inImage(root, user, "/usr/local/bin/keyway", "config", "validate", "-c", "/etc/keyway/keyway.hcl").CombinedOutput(); err != nil {
		t.Fatalf("config validate in the image: %v\n%s", err, out)
	}

	agent := launchNode(t, "", "", inImage(root, user, "/usr/local/bin/keyway", "start", "-c", "/etc/keyway/keyway.hcl"))

	alice := a.userFiles(t, "alice", "--roles=access", "--db-users=*", "--db-names=*", "--route=image-postgres", "--route-db-user=postgres")
	var got string
	waitFor(t, 30*time.Second, "a session through the agent in the image", func() bool {
		select {
		case <-agent.exited:
			t.Fatalf("the agent in the image exited:\n%s", agent.logs())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := a.pgxConnect(t, alice, "postgres", "postgres")
		if err != nil {
			return false
		}
		defer func() { _ = conn.Close(ctx) }()
		return conn.QueryRow(ctx, "select 'through the image'").Scan(&got) == nil
	})
	if got != "through the image" {
		t.Fatalf("the session through the image's agent answered %q", got)
	}
	if fi, err := os.Stat(filepath.Join(root, "var", "lib", "keyway", "agent", "host.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the agent's key in the image: %v %v", fi, err)
	}
}

// renderedConfig is the keyway.hcl of the ConfigMap in a chart's
// rendering: the lines of its block scalar, less their indentation.
func renderedConfig(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n  keyway.hcl: |\n")
	if !ok {
		t.Fatalf("%s has no ConfigMap with keyway.hcl", path)
	}
	var out strings.Builder
	for _, line := range strings.Split(rest, "\n") {
		if line != "" && !strings.HasPrefix(line, "    ") {
			break
		}
		out.WriteString(strings.TrimPrefix(line, "    ") + "\n")
	}
	return out.String()
}

// writeImageCA writes a self-signed CA certificate and its key as
// PREFIX.crt and PREFIX.key, readable by the image's user.
func writeImageCA(t *testing.T, prefix string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: filepath.Base(prefix) + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, block := range map[string]*pem.Block{prefix + ".crt": {Type: "CERTIFICATE", Bytes: der}, prefix + ".key": {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, 65532, 65532); err != nil {
			t.Fatal(err)
		}
	}
}
