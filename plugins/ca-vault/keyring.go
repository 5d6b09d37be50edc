package cavault

import (
	"fmt"
	"sync"
	"time"

	"github.com/keyway-dev/keyway/sdk"
)

// keyStore is where a keyring creates and keeps its keys: the managed
// backend's sealed files or a PKCS#11 token.
type keyStore interface {
	// newKey creates and persists a key and CA certificate for a. The
	// index does not name it yet: a crash before writeIndex leaves an
	// orphan, never a half-trusted key.
	newKey(a sdk.Authority) (*caKey, error)
	// writeIndex replaces the persisted list of keys with chains.
	writeIndex(chains map[sdk.Authority][]*caKey) error
	// removeKey deletes a key that no index names any longer.
	removeKey(a sdk.Authority, k *caKey) error
	// probe returns nil while the active keys can be used.
	probe(active []*caKey) error
	// close releases what the store holds open.
	close() error
}

// keyring is a backend that creates its authorities' keys and rotates
// them: the managed and pkcs11 backends, which differ only in their
// keyStore.
type keyring struct {
	now   func() time.Time
	store keyStore

	mu sync.Mutex
	// chains holds each authority's keys, the active one first.
	chains map[sdk.Authority][]*caKey
}

// newKeyring returns a keyring over chains, which must hold at least one
// key for each authority, after dropping the keys whose grace period
// has ended.
func newKeyring(now func() time.Time, store keyStore, chains map[sdk.Authority][]*caKey) (*keyring, error) {
	for _, a := range authorities() {
		if len(chains[a]) == 0 {
			return nil, fmt.Errorf("%s has no key for the %s authority", indexFile, a)
		}
	}
	k := &keyring{now: now, store: store, chains: chains}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.pruneLocked(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keyring) issuer(a sdk.Authority) (issuer, error) {
	if err := checkAuthority(a); err != nil {
		return issuer{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	key := k.chains[a][0]
	return issuer{cert: key.cert, signer: key.signer, chain: [][]byte{key.cert.Raw}}, nil
}

func (k *keyring) states() ([]sdk.AuthorityState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.pruneLocked(); err != nil {
		return nil, err
	}
	out := make([]sdk.AuthorityState, 0, len(k.chains))
	for _, a := range authorities() {
		out = append(out, k.stateLocked(a))
	}
	return out, nil
}

// stateLocked describes a's trusted certificates.
func (k *keyring) stateLocked(a sdk.Authority) sdk.AuthorityState {
	st := sdk.AuthorityState{Authority: a, Phase: "active"}
	for _, key := range k.chains[a] {
		st.Certificates = append(st.Certificates, key.cert.Raw)
		if key.retireAt.After(st.GraceEnds) {
			st.GraceEnds = key.retireAt
		}
	}
	if len(k.chains[a]) > 1 {
		st.Phase = "rotating"
	}
	return st
}

func (k *keyring) rotate(a sdk.Authority, grace time.Duration) (sdk.AuthorityState, error) {
	// Creating the key may take long (RSA, a slow token): do it before
	// taking the lock. Nothing names it until the index is written.
	key, err := k.store.newKey(a)
	if err != nil {
		return sdk.AuthorityState{}, fmt.Errorf("rotating the %s authority: %w", a, err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old := *k.chains[a][0]
	old.retireAt = k.now().Add(grace)
	next := make(map[sdk.Authority][]*caKey, len(k.chains))
	for b, chain := range k.chains {
		next[b] = chain
	}
	next[a] = append([]*caKey{key, &old}, k.chains[a][1:]...)
	if err := k.store.writeIndex(next); err != nil {
		_ = k.store.removeKey(a, key)
		return sdk.AuthorityState{}, fmt.Errorf("rotating the %s authority: %w", a, err)
	}
	k.chains = next
	if err := k.pruneLocked(); err != nil {
		return sdk.AuthorityState{}, err
	}
	return k.stateLocked(a), nil
}

// retired is a key dropped from an authority.
type retired struct {
	a   sdk.Authority
	key *caKey
}

// pruneLocked drops the old keys whose grace period has ended, from
// memory, the index and the store. A signing that raced a rotation
// without grace may then fail: its certificate would not have verified
// anyway, as its issuer is no longer trusted.
func (k *keyring) pruneLocked() error {
	now := k.now()
	next := make(map[sdk.Authority][]*caKey, len(k.chains))
	var dropped []retired
	for a, chain := range k.chains {
		keep := chain[:1:1]
		for _, key := range chain[1:] {
			if key.retireAt.After(now) {
				keep = append(keep, key)
			} else {
				dropped = append(dropped, retired{a, key})
			}
		}
		next[a] = keep
	}
	if len(dropped) == 0 {
		return nil
	}
	if err := k.store.writeIndex(next); err != nil {
		return fmt.Errorf("dropping CA keys whose grace period ended: %w", err)
	}
	k.chains = next
	for _, d := range dropped {
		// The index no longer names the key; a failed removal leaves
		// an orphan that does no harm.
		_ = k.store.removeKey(d.a, d.key)
	}
	return nil
}

func (k *keyring) health() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	active := make([]*caKey, 0, len(k.chains))
	for _, a := range authorities() {
		key := k.chains[a][0]
		if c := key.cert; !now.Before(c.NotAfter) {
			return fmt.Errorf("the %s CA certificate expired on %s; rotate the authority", a, c.NotAfter.UTC().Format(time.RFC3339))
		}
		active = append(active, key)
	}
	return k.store.probe(active)
}

func (k *keyring) close() error {
	return k.store.close()
}
