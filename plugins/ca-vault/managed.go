package cavault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// managedDir is the managed backend's directory inside the data directory.
const managedDir = "managed"

// managedOptions configure the managed backend.
type managedOptions struct {
	dataDir   string
	cluster   string
	algorithm string
	now       func() time.Time
}

// managed is the backend whose keys keyway generates and keeps.
type managed struct {
	opts  managedOptions
	store *store

	mu sync.Mutex
	// chains holds each authority's keys, the active one first.
	chains map[sdk.Authority][]*caKey
}

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

func (m *managed) issuer(a sdk.Authority) (issuer, error) {
	if err := checkAuthority(a); err != nil {
		return issuer{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.chains[a][0]
	return issuer{cert: k.cert, signer: k.signer, chain: [][]byte{k.cert.Raw}}, nil
}

func (m *managed) states() ([]sdk.AuthorityState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.pruneLocked(); err != nil {
		return nil, err
	}
	out := make([]sdk.AuthorityState, 0, len(m.chains))
	for _, a := range authorities() {
		out = append(out, m.stateLocked(a))
	}
	return out, nil
}

// stateLocked describes a's trusted certificates.
func (m *managed) stateLocked(a sdk.Authority) sdk.AuthorityState {
	st := sdk.AuthorityState{Authority: a, Phase: "active"}
	for _, k := range m.chains[a] {
		st.Certificates = append(st.Certificates, k.cert.Raw)
		if k.retireAt.After(st.GraceEnds) {
			st.GraceEnds = k.retireAt
		}
	}
	if len(m.chains[a]) > 1 {
		st.Phase = "rotating"
	}
	return st
}

func (m *managed) rotate(a sdk.Authority, grace time.Duration) (sdk.AuthorityState, error) {
	k, err := newCAKey(m.opts, a)
	if err != nil {
		return sdk.AuthorityState{}, fmt.Errorf("rotating the %s authority: %w", a, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.store.writeKey(a, k); err != nil {
		return sdk.AuthorityState{}, fmt.Errorf("rotating the %s authority: %w", a, err)
	}
	old := *m.chains[a][0]
	old.retireAt = m.opts.now().Add(grace)
	next := make(map[sdk.Authority][]*caKey, len(m.chains))
	for b, chain := range m.chains {
		next[b] = chain
	}
	next[a] = append([]*caKey{k, &old}, m.chains[a][1:]...)
	if err := m.store.writeIndex(next); err != nil {
		_ = m.store.removeKey(a, k.id)
		return sdk.AuthorityState{}, fmt.Errorf("rotating the %s authority: %w", a, err)
	}
	m.chains = next
	if err := m.pruneLocked(); err != nil {
		return sdk.AuthorityState{}, err
	}
	return m.stateLocked(a), nil
}

// keySlot names one key's files.
type keySlot struct {
	a  sdk.Authority
	id string
}

// pruneLocked drops the old keys whose grace period has ended, from
// memory and disk.
func (m *managed) pruneLocked() error {
	now := m.opts.now()
	next := make(map[sdk.Authority][]*caKey, len(m.chains))
	var dropped []keySlot
	for a, chain := range m.chains {
		keep := chain[:1:1]
		for _, k := range chain[1:] {
			if k.retireAt.After(now) {
				keep = append(keep, k)
			} else {
				dropped = append(dropped, keySlot{a, k.id})
			}
		}
		next[a] = keep
	}
	if len(dropped) == 0 {
		return nil
	}
	if err := m.store.writeIndex(next); err != nil {
		return fmt.Errorf("dropping CA keys whose grace period ended: %w", err)
	}
	m.chains = next
	for _, d := range dropped {
		// The index no longer names the files; a failed removal leaves
		// an orphan that the next start deletes.
		_ = m.store.removeKey(d.a, d.id)
	}
	return nil
}

func (m *managed) health() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.now()
	for _, a := range authorities() {
		if c := m.chains[a][0].cert; !now.Before(c.NotAfter) {
			return fmt.Errorf("the %s CA certificate expired on %s; rotate the authority", a, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return nil
}
