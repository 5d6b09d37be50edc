// Command image builds keyway's container image without a container
// daemon or a registry: one layer holding the keyway binary, the shared
// libraries it links (as this Debian machine's packages installed them),
// the system's CA bundle, and a non-root user; written as an image
// archive that `docker load` and `podman load` read.
//
//	go run . -keyway ../../bin/keyway -version v1 -out ../../bin/keyway-image.tar
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's user: keyway runs as this uid and gid, never as root.
const (
	uid      = 65532
	userName = "keyway"
	binPath  = "/usr/local/bin/keyway"
	dataDir  = "/var/lib/keyway"
	caBundle = "/etc/ssl/certs/ca-certificates.crt"
)

func main() {
	bin := flag.String("keyway", "bin/keyway", "the keyway binary to put in the image")
	version := flag.String("version", "dev", "the image's tag")
	out := flag.String("out", "bin/keyway-image.tar", "where to write the image archive")
	flag.Parse()
	if err := build(*bin, *version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func build(bin, version, out string) error {
	fs := newRootFS()
	fs.dir("/etc/keyway", 0o755, 0)
	fs.dir("/tmp", 0o1777, 0)
	fs.dir(dataDir, 0o700, uid)
	for _, d := range []string{"/proc", "/sys", "/dev"} {
		fs.dir(d, 0o755, 0)
	}
	fs.file("/etc/passwd", []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:keyway:%s:/sbin/nologin\n", userName, uid, uid, dataDir)), 0o644, 0)
	fs.file("/etc/group", []byte(fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, uid)), 0o644, 0)
	keyway, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading the keyway binary: %w", err)
	}
	fs.file(binPath, keyway, 0o755, 0)
	libs, err := sharedLibraries(bin)
	if err != nil {
		return err
	}
	for _, l := range libs {
		if err := fs.copyHostPath(l); err != nil {
			return err
		}
	}
	if err := fs.copyHostPath(caBundle); err != nil {
		return fmt.Errorf("the system's CA bundle (Debian's ca-certificates): %w", err)
	}

	layerTar, err := fs.tar()
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return fmt.Errorf("making the layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("adding the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cfg.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint: []string{binPath},
		Cmd:        []string{"start", "-c", "/etc/keyway/keyway.hcl"},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dataDir, "SSL_CERT_FILE=" + caBundle},
		WorkingDir: dataDir,
		Volumes:    map[string]struct{}{dataDir: {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "keyway",
			"org.opencontainers.image.version": version,
		},
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return fmt.Errorf("setting the image's configuration: %w", err)
	}
	tag, err := name.NewTag("keyway:" + version)
	if err != nil {
		return fmt.Errorf("tag keyway:%s: %w", version, err)
	}
	if err := tarball.WriteToFile(out, tag, img); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	fmt.Printf("wrote %s (%s, %d bytes of files)\n", out, tag, len(layerTar))
	return nil
}

// lddLine matches the paths ldd prints: "libc.so.6 => /lib/.../libc.so.6
// (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibraries lists the libraries bin loads at start, with the
// dynamic loader.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w\n%s", bin, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		if m := lddLine.FindStringSubmatch(line); m != nil {
			libs = append(libs, m[1])
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s listed no library:\n%s", bin, out)
	}
	return libs, nil
}

// rootFS is the layer's files, by path in the archive.
type rootFS struct{ entries map[string]entry }

// entry is one file of the layer: its header and, for a file, its bytes.
type entry struct {
	h    *tar.Header
	data []byte
}

func newRootFS() *rootFS { return &rootFS{entries: map[string]entry{}} }

// add adds an entry, and its parent directories that are not there yet
// (mode 0755, owned by root).
func (r *rootFS) add(h *tar.Header, data []byte) {
	if parent := filepath.Dir("/" + strings.TrimPrefix(h.Name, "/")); parent != "/" {
		name := strings.TrimPrefix(parent, "/")
		_, dir := r.entries[name+"/"]
		_, link := r.entries[name]
		if !dir && !link {
			r.dir(parent, 0o755, 0)
		}
	}
	h.Name = strings.TrimPrefix(h.Name, "/")
	h.ModTime = time.Unix(0, 0)
	h.Format = tar.FormatPAX
	if h.Typeflag == tar.TypeDir {
		h.Name += "/"
	}
	r.entries[h.Name] = entry{h, data}
}

func (r *rootFS) dir(path string, mode int64, owner int) {
	r.add(&tar.Header{Typeflag: tar.TypeDir, Name: path, Mode: mode, Uid: owner, Gid: owner}, nil)
}

func (r *rootFS) file(path string, data []byte, mode int64, owner int) {
	r.add(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: mode, Uid: owner, Gid: owner, Size: int64(len(data))}, data)
}

// copyHostPath copies path from this machine, keeping the symbolic links
// on the way (Debian's /lib is a link to usr/lib), so the image resolves
// it as the host does.
func (r *rootFS) copyHostPath(path string) error {
	parts := strings.Split(strings.TrimPrefix(filepath.Clean(path), "/"), "/")
	cur := "/"
	for i, p := range parts {
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(cur)
			if err != nil {
				return err
			}
			r.add(&tar.Header{Typeflag: tar.TypeSymlink, Name: cur, Linkname: target, Mode: 0o777}, nil)
			resolved := target
			if !filepath.IsAbs(target) {
				resolved = filepath.Join(filepath.Dir(cur), target)
			}
			rest := filepath.Join(append([]string{resolved}, parts[i+1:]...)...)
			return r.copyHostPath(rest)
		case fi.IsDir():
			if _, ok := r.entries[strings.TrimPrefix(cur, "/")+"/"]; !ok {
				r.dir(cur, 0o755, 0)
			}
		case fi.Mode().IsRegular():
			if i != len(parts)-1 {
				return fmt.Errorf("%s: %s is not a directory", path, cur)
			}
			data, err := os.ReadFile(cur)
			if err != nil {
				return err
			}
			r.file(cur, data, int64(fi.Mode().Perm()), 0)
		default:
			return fmt.Errorf("%s: %s is neither a file, a directory nor a link", path, cur)
		}
	}
	return nil
}

// tar writes the entries, parents before children, in a stable order.
func (r *rootFS) tar() ([]byte, error) {
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := r.entries[n]
		if err := tw.WriteHeader(e.h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", n, err)
		}
		if len(e.data) > 0 {
			if _, err := tw.Write(e.data); err != nil {
				return nil, fmt.Errorf("layer entry %s: %w", n, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer: %w", err)
	}
	return buf.Bytes(), nil
}
