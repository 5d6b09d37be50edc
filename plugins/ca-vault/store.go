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

// Names inside the managed backend's directory.
const (
	kekFile        = "kek"
	indexFile      = "authorities.json"
	certSuffix     = ".crt"
	keySuffix      = ".key"
	sealedKeyBlock = "KEYWAY SEALED CA KEY"
	indexVersion   = 1
)

// caKey is one key of an authority with its certificate.
type caKey struct {
	id     string
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
}

type indexEntry struct {
	ID       string    `json:"id"`
	RetireAt time.Time `json:"retire_at,omitzero"`
}

// store reads and writes the managed backend's directory.
type store struct {
	dir    string
	sealer *sealer
}

// newKeyID returns a random name for a key's files.
func newKeyID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a key id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (s *store) path(a sdk.Authority, id, suffix string) string {
	return filepath.Join(s.dir, a.String()+"-"+id+suffix)
}

// keyAAD binds a sealed key to its authority and id, so that a key file
// copied into another slot does not decrypt.
func keyAAD(a sdk.Authority, id string) []byte {
	return []byte("keyway ca-vault key v1\x00" + a.String() + "\x00" + id)
}

// writeKey writes k's certificate and sealed private key.
func (s *store) writeKey(a sdk.Authority, k *caKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return fmt.Errorf("encoding the %s CA key: %w", a, err)
	}
	sealed, err := s.sealer.seal(der, keyAAD(a, k.id))
	clear(der)
	if err != nil {
		return fmt.Errorf("sealing the %s CA key: %w", a, err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{
		Type:    sealedKeyBlock,
		Headers: map[string]string{"Cipher": "AES-256-GCM", "Authority": a.String(), "Key-Id": k.id},
		Bytes:   sealed,
	})
	if err := writePrivateFile(s.path(a, k.id, keySuffix), keyPEM); err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.cert.Raw})
	return writePrivateFile(s.path(a, k.id, certSuffix), certPEM)
}

// readKey reads and decrypts one key with its certificate.
func (s *store) readKey(a sdk.Authority, e indexEntry) (*caKey, error) {
	certs, err := readCertificates(s.path(a, e.ID, certSuffix))
	if err != nil {
		return nil, err
	}
	keyPath := s.path(a, e.ID, keySuffix)
	if err := checkPrivate(keyPath); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading the %s CA key: %w", a, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != sealedKeyBlock {
		return nil, fmt.Errorf("%s: not a sealed keyway key (no %q PEM block)", keyPath, sealedKeyBlock)
	}
	der, err := s.sealer.open(block.Bytes, keyAAD(a, e.ID))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	signer, err := parsePKCS8Signer(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !publicKeysEqual(certs[0].PublicKey, signer.Public()) {
		return nil, fmt.Errorf("%s does not hold the key of %s", keyPath, s.path(a, e.ID, certSuffix))
	}
	return &caKey{id: e.ID, cert: certs[0], signer: signer, retireAt: e.RetireAt}, nil
}

// removeKey deletes a key's files.
func (s *store) removeKey(a sdk.Authority, id string) error {
	var errs []error
	for _, suffix := range []string{keySuffix, certSuffix} {
		if err := os.Remove(s.path(a, id, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readIndex reads authorities.json.
func (s *store) readIndex() (index, error) {
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
func (s *store) writeIndex(chains map[sdk.Authority][]*caKey) error {
	idx := index{Version: indexVersion, Authorities: map[string][]indexEntry{}}
	for a, chain := range chains {
		for _, k := range chain {
			idx.Authorities[a.String()] = append(idx.Authorities[a.String()], indexEntry{ID: k.id, RetireAt: k.retireAt.UTC()})
		}
	}
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", indexFile, err)
	}
	return writePrivateFile(filepath.Join(s.dir, indexFile), append(data, '\n'))
}

// removeOrphans deletes key and certificate files the index does not
// name: leftovers of a rotation or prune interrupted by a crash.
func (s *store) removeOrphans(chains map[sdk.Authority][]*caKey) error {
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
