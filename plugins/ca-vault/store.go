package cavault

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// Names inside a keyring's state directory.
const (
	indexFile    = "authorities.json"
	certSuffix   = ".crt"
	keySuffix    = ".key"
	indexVersion = 1
)

// caKey is one key of an authority with its certificate.
type caKey struct {
	id string
	// label is the key pair's CKA_LABEL in a PKCS#11 token; empty for
	// the managed backend's keys.
	label  string
	cert   *x509.Certificate
	signer crypto.Signer
	// retireAt is when an old key stops being trusted; zero for the
	// active key.
	retireAt time.Time
}

// index lists each authority's keys, the active one first.
type index struct {
	Version     int                     `json:"version"`
	Authorities map[string][]indexEntry `json:"authorities"`
	// Rotations holds the authorities whose rotation is in progress.
	Rotations map[string]rotation `json:"rotations,omitempty"`
}

type indexEntry struct {
	ID       string    `json:"id"`
	Label    string    `json:"label,omitempty"`
	RetireAt time.Time `json:"retire_at,omitzero"`
}

// stateDir is a keyring's directory: the index of its keys and their CA
// certificates, TYPE-ID.crt. The managed backend adds its sealed keys.
type stateDir struct {
	dir string
}

// newKeyID returns a random name for a key's files.
func newKeyID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a key id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (s *stateDir) path(a sdk.Authority, id, suffix string) string {
	return filepath.Join(s.dir, a.String()+"-"+id+suffix)
}

// writeCert writes k's certificate.
func (s *stateDir) writeCert(a sdk.Authority, k *caKey) error {
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.cert.Raw})
	return writePrivateFile(s.path(a, k.id, certSuffix), certPEM)
}

// readCert reads the certificate of a's key id and checks that it
// certifies pub.
func (s *stateDir) readCert(a sdk.Authority, id string, pub crypto.PublicKey) (*x509.Certificate, error) {
	path := s.path(a, id, certSuffix)
	certs, err := readCertificates(path)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(certs[0].PublicKey, pub) {
		return nil, fmt.Errorf("%s does not certify the %s authority's key %s", path, a, id)
	}
	return certs[0], nil
}

// removeFiles deletes a key's files.
func (s *stateDir) removeFiles(a sdk.Authority, id string) error {
	var errs []error
	for _, suffix := range []string{keySuffix, certSuffix} {
		if err := os.Remove(s.path(a, id, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readIndex reads authorities.json.
func (s *stateDir) readIndex() (index, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, indexFile))
	if err != nil {
		return index{}, err
	}
	var idx index
	if err := json.Unmarshal(data, &idx); err != nil {
		return index{}, fmt.Errorf("%s: %w", filepath.Join(s.dir, indexFile), err)
	}
	if idx.Version != indexVersion {
		return index{}, fmt.Errorf("%s: version %d, this keyway reads version %d", filepath.Join(s.dir, indexFile), idx.Version, indexVersion)
	}
	return idx, nil
}

// writeIndex replaces authorities.json with the keys in chains.
func (s *stateDir) writeIndex(chains map[sdk.Authority][]*caKey, rots map[sdk.Authority]rotation) error {
	idx := index{Version: indexVersion, Authorities: map[string][]indexEntry{}}
	for a, r := range rots {
		if idx.Rotations == nil {
			idx.Rotations = map[string]rotation{}
		}
		idx.Rotations[a.String()] = r
	}
	for a, chain := range chains {
		for _, k := range chain {
			idx.Authorities[a.String()] = append(idx.Authorities[a.String()], indexEntry{ID: k.id, Label: k.label, RetireAt: k.retireAt.UTC()})
		}
	}
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", indexFile, err)
	}
	return writePrivateFile(filepath.Join(s.dir, indexFile), append(data, '\n'))
}

// readRotations returns the rotations in progress the index records.
func (s *stateDir) readRotations() (map[sdk.Authority]rotation, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := map[sdk.Authority]rotation{}
	for name, r := range idx.Rotations {
		a, ok := parseAuthority(name)
		if !ok {
			return nil, fmt.Errorf("%s names an unknown authority %q", indexFile, name)
		}
		out[a] = r
	}
	return out, nil
}

// loadChains reads the index and each key it names with load, the
// active key of each authority first.
func (s *stateDir) loadChains(load func(a sdk.Authority, e indexEntry) (*caKey, error)) (map[sdk.Authority][]*caKey, error) {
	idx, err := s.readIndex()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing; refusing to create new authorities over existing state, which would invalidate every certificate issued so far: restore it from a backup, or remove %s to start a new cluster", indexFile, s.dir)
	}
	if err != nil {
		return nil, err
	}
	for name := range idx.Authorities {
		if _, ok := parseAuthority(name); !ok {
			return nil, fmt.Errorf("%s names an unknown authority %q", indexFile, name)
		}
	}
	chains := map[sdk.Authority][]*caKey{}
	// In a fixed order, so that a damaged state gives the same error
	// every time.
	for _, a := range authorities() {
		for _, e := range idx.Authorities[a.String()] {
			k, err := load(a, e)
			if err != nil {
				return nil, fmt.Errorf("%s authority: %w", a, err)
			}
			k.retireAt = e.RetireAt
			chains[a] = append(chains[a], k)
		}
	}
	return chains, nil
}

// removeOrphans deletes key and certificate files the index does not
// name: leftovers of a rotation or prune interrupted by a crash.
func (s *stateDir) removeOrphans(chains map[sdk.Authority][]*caKey) error {
	known := map[string]bool{}
	for a, chain := range chains {
		for _, k := range chain {
			known[filepath.Base(s.path(a, k.id, keySuffix))] = true
			known[filepath.Base(s.path(a, k.id, certSuffix))] = true
		}
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", s.dir, err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		ours := strings.HasSuffix(name, keySuffix) || strings.HasSuffix(name, certSuffix) || strings.Contains(name, ".tmp-")
		if !ours || known[name] || e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
