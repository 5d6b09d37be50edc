package cavault

import (
	"fmt"
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
