package cavault

import (
	"fmt"
	"path/filepath"

	"github.com/keyway-dev/keyway/sdk"
)

// openManaged loads the authorities under opts.dataDir, creating them on
// the first start.
func openManaged(opts managedOptions) (*keyring, error) {
	dir, err := openStateDir(opts.dataDir, managedDir, func(tmp string) error {
		return initManaged(opts, tmp)
	})
	if err != nil {
		return nil, err
	}
	k, err := loadManaged(opts, dir)
	if err != nil {
		return nil, fmt.Errorf("loading the cluster's authorities from %s: %w", dir, err)
	}
	return k, nil
}

// initManaged fills the new directory dir with a kek and four new
// authorities.
func initManaged(opts managedOptions, dir string) error {
	kek, err := newKEK()
	if err != nil {
		return err
	}
	if err := writePrivateFile(filepath.Join(dir, kekFile), kek); err != nil {
		return err
	}
	sealer, err := newSealer(kek)
	clear(kek)
	if err != nil {
		return err
	}
	st := &managedStore{stateDir: &stateDir{dir: dir}, sealer: sealer, opts: opts}
	chains := map[sdk.Authority][]*caKey{}
	for _, a := range authorities() {
		k, err := st.newKey(a)
		if err != nil {
			return err
		}
		chains[a] = []*caKey{k}
	}
	return st.writeIndex(chains, nil)
}

// loadManaged reads an existing directory.
func loadManaged(opts managedOptions, dir string) (*keyring, error) {
	kek, err := readKEK(filepath.Join(dir, kekFile))
	if err != nil {
		return nil, err
	}
	sealer, err := newSealer(kek)
	clear(kek)
	if err != nil {
		return nil, err
	}
	st := &managedStore{stateDir: &stateDir{dir: dir}, sealer: sealer, opts: opts}
	chains, err := st.loadChains(st.readKey)
	if err != nil {
		return nil, err
	}
	rots, err := st.readRotations()
	if err != nil {
		return nil, err
	}
	k, err := newKeyring(opts.now, st, chains, rots)
	if err != nil {
		return nil, err
	}
	// Leftovers of an interrupted rotation are harmless; failing to
	// delete them is no reason to refuse to start.
	_ = st.removeOrphans(k.chains)
	return k, nil
}
