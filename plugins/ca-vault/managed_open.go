package cavault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keyway-dev/keyway/sdk"
)

// openManaged loads the authorities under opts.dataDir, creating them on
// the first start.
func openManaged(opts managedOptions) (*managed, error) {
	if opts.dataDir == "" {
		return nil, errors.New("the managed backend needs a data directory to keep its keys in")
	}
	if err := os.MkdirAll(opts.dataDir, privateDirMode); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	dir := filepath.Join(opts.dataDir, managedDir)
	_, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := initManaged(opts, dir); err != nil {
			return nil, fmt.Errorf("creating the cluster's authorities in %s: %w", dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	m, err := loadManaged(opts, dir)
	if err != nil {
		return nil, fmt.Errorf("loading the cluster's authorities from %s: %w", dir, err)
	}
	return m, nil
}

// initManaged creates the directory with a kek and four new authorities.
// It builds everything in a temporary directory and renames that into
// place, so dir either does not exist or is complete.
func initManaged(opts managedOptions, dir string) (err error) {
	stale, _ := filepath.Glob(filepath.Join(opts.dataDir, "."+managedDir+"-init-*"))
	for _, s := range stale {
		_ = os.RemoveAll(s)
	}
	tmp, err := os.MkdirTemp(opts.dataDir, "."+managedDir+"-init-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, privateDirMode); err != nil {
		return err
	}
	kek, err := newKEK()
	if err != nil {
		return err
	}
	if err := writePrivateFile(filepath.Join(tmp, kekFile), kek); err != nil {
		return err
	}
	sealer, err := newSealer(kek)
	if err != nil {
		return err
	}
	st := &store{dir: tmp, sealer: sealer}
	chains := map[sdk.Authority][]*caKey{}
	for _, a := range authorities() {
		k, err := newCAKey(opts, a)
		if err != nil {
			return err
		}
		if err := st.writeKey(a, k); err != nil {
			return err
		}
		chains[a] = []*caKey{k}
	}
	if err := st.writeIndex(chains); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return syncDir(opts.dataDir)
}

// loadManaged reads an existing directory.
func loadManaged(opts managedOptions, dir string) (*managed, error) {
	if err := checkPrivate(dir); err != nil {
		return nil, err
	}
	kek, err := readKEK(filepath.Join(dir, kekFile))
	if err != nil {
		return nil, err
	}
	sealer, err := newSealer(kek)
	clear(kek)
	if err != nil {
		return nil, err
	}
	st := &store{dir: dir, sealer: sealer}
	idx, err := st.readIndex()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing; refusing to create new authorities over existing state, which would invalidate every certificate issued so far: restore it from a backup, or remove %s to start a new cluster", indexFile, dir)
	}
	if err != nil {
		return nil, err
	}
	m := &managed{opts: opts, store: st, chains: map[sdk.Authority][]*caKey{}}
	for name, entries := range idx.Authorities {
		a, ok := parseAuthority(name)
		if !ok {
			return nil, fmt.Errorf("%s names an unknown authority %q", indexFile, name)
		}
		for _, e := range entries {
			k, err := st.readKey(a, e)
			if err != nil {
				return nil, fmt.Errorf("%s authority: %w", a, err)
			}
			m.chains[a] = append(m.chains[a], k)
		}
	}
	for _, a := range authorities() {
		if len(m.chains[a]) == 0 {
			return nil, fmt.Errorf("%s has no key for the %s authority", indexFile, a)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.pruneLocked(); err != nil {
		return nil, err
	}
	// Leftovers of an interrupted rotation are harmless; failing to
	// delete them is no reason to refuse to start.
	_ = st.removeOrphans(m.chains)
	return m, nil
}

// newCAKey generates a key and self-signed certificate for a.
func newCAKey(opts managedOptions, a sdk.Authority) (*caKey, error) {
	signer, err := generateKey(opts.algorithm)
	if err != nil {
		return nil, fmt.Errorf("generating the %s CA key: %w", a, err)
	}
	cert, err := selfSignedCA(signer, opts.cluster, a, opts.now())
	if err != nil {
		return nil, err
	}
	id, err := newKeyID()
	if err != nil {
		return nil, err
	}
	return &caKey{id: id, cert: cert, signer: signer}, nil
}
