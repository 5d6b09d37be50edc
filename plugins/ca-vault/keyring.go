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
	// writeIndex replaces the persisted list of keys with chains, and
	// the rotations in progress with rots.
	writeIndex(chains map[sdk.Authority][]*caKey, rots map[sdk.Authority]rotation) error
	// removeKey deletes a key that no index names any longer.
	removeKey(a sdk.Authority, k *caKey) error
	// probe returns nil while the active keys can be used.
	probe(active []*caKey) error
	// close releases what the store holds open.
	close() error
}

// rotation is an authority's rotation in progress, as the index keeps it.
type rotation struct {
	Phase     string        `json:"phase"`
	Started   time.Time     `json:"started"`
	Grace     time.Duration `json:"grace"`
	Automatic bool          `json:"automatic,omitempty"`
}

// keyring is a backend that creates its authorities' keys and rotates
// them: the managed and pkcs11 backends, which differ only in their
// keyStore.
type keyring struct {
	now   func() time.Time
	store keyStore

	// signing is held for reading from the moment a signing picks its
	// key until the certificate is made; a rotation that drops a key
	// takes it, after mu, before destroying the key, so that no signing
	// under way loses its key (a PKCS#11 token refuses it). It comes
	// before mu.
	signing sync.RWMutex
	mu      sync.Mutex
	// chains holds each authority's keys. During a rotation the first
	// is the key that remains at standby (the new one, or the old one
	// during a rollback) and the second is the other.
	chains map[sdk.Authority][]*caKey
	// rots holds the rotations in progress.
	rots map[sdk.Authority]rotation
	// cross caches certificates of one key signed by another, by the
	// two keys' ids, for the chains handed out during rotations.
	cross map[[2]string][]byte
}

// newKeyring returns a keyring over chains, which must hold at least one
// key for each authority, and rots, the rotations in progress, after
// dropping the keys whose grace period has ended.
func newKeyring(now func() time.Time, store keyStore, chains map[sdk.Authority][]*caKey, rots map[sdk.Authority]rotation) (*keyring, error) {
	for _, a := range authorities() {
		if len(chains[a]) == 0 {
			return nil, fmt.Errorf("%s has no key for the %s authority", indexFile, a)
		}
	}
	if rots == nil {
		rots = map[sdk.Authority]rotation{}
	}
	for a, r := range rots {
		if len(chains[a]) != 2 {
			return nil, fmt.Errorf("%s records a rotation of the %s authority in phase %s but %d keys for it", indexFile, a, r.Phase, len(chains[a]))
		}
	}
	k := &keyring{now: now, store: store, chains: chains, rots: rots, cross: map[[2]string][]byte{}}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.pruneLocked(); err != nil {
		return nil, err
	}
	return k, nil
}

// signerLocked returns the index in a's chain of the key that signs
// server certificates (server set) or client certificates now.
func (k *keyring) signerLocked(a sdk.Authority, server bool) int {
	switch k.rots[a].Phase {
	case sdk.PhaseInit:
		return 1
	case sdk.PhaseUpdateClients:
		if server {
			return 1
		}
	}
	return 0
}

func (k *keyring) issuer(a sdk.Authority, server bool) (issuer, error) {
	if err := checkAuthority(a); err != nil {
		return issuer{}, err
	}
	k.signing.RLock()
	k.mu.Lock()
	defer k.mu.Unlock()
	chain := k.chains[a]
	i := k.signerLocked(a, server)
	key := chain[i]
	iss := issuer{cert: key.cert, signer: key.signer, chain: [][]byte{key.cert.Raw}}
	if _, rotating := k.rots[a]; rotating {
		// The chain lets a client that trusts either key verify the
		// certificate: the signer cross-signed by the other key, then
		// the other key's certificate. The signer's own self-signed
		// certificate is left out: a client that trusts it has it, and
		// one that does not would stop at it and never try the
		// cross-certificate.
		other := chain[1-i]
		cross, err := k.crossLocked(key, other)
		if err != nil {
			k.signing.RUnlock()
			return issuer{}, err
		}
		iss.chain = [][]byte{cross, other.cert.Raw}
	}
	iss.release = k.signing.RUnlock
	return iss, nil
}

// crossLocked returns key's CA certificate signed by by.
func (k *keyring) crossLocked(key, by *caKey) ([]byte, error) {
	id := [2]string{key.id, by.id}
	if der, ok := k.cross[id]; ok {
		return der, nil
	}
	der, err := crossSign(key.cert, by.cert, by.signer)
	if err != nil {
		return nil, err
	}
	k.cross[id] = der
	return der, nil
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

// stateLocked describes a's trusted certificates and rotation.
func (k *keyring) stateLocked(a sdk.Authority) sdk.AuthorityState {
	st := sdk.AuthorityState{Authority: a, Phase: sdk.PhaseStandby}
	for _, key := range k.chains[a] {
		st.Certificates = append(st.Certificates, key.cert.Raw)
		if key.retireAt.After(st.GraceEnds) {
			st.GraceEnds = key.retireAt
		}
	}
	if r, ok := k.rots[a]; ok {
		st.Phase, st.Started, st.Automatic = r.Phase, r.Started, r.Automatic
		st.GraceEnds = r.Started.Add(r.Grace)
	}
	return st
}

func (k *keyring) rotate(req sdk.RotateRequest) (sdk.AuthorityState, error) {
	a := req.Authority
	k.mu.Lock()
	from := k.rots[a].Phase
	k.mu.Unlock()
	if err := sdk.CheckPhaseChange(a, from, req.Phase); err != nil {
		return sdk.AuthorityState{}, err
	}
	var key *caKey
	if req.Phase == sdk.PhaseInit {
		// Creating the key may take long (RSA, a slow token): do it
		// before taking the lock. Nothing names it until the index is
		// written.
		var err error
		if key, err = k.store.newKey(a); err != nil {
			return sdk.AuthorityState{}, fmt.Errorf("rotating the %s authority: %w", a, err)
		}
	}
	var dropped *caKey
	defer func() {
		// Once mu is released (the deferred unlock below runs first),
		// and the signings that picked the dropped key are done.
		if dropped != nil {
			k.signing.Lock()
			defer k.signing.Unlock()
			// The index no longer names the key; a failed removal
			// leaves an orphan that does no harm.
			_ = k.store.removeKey(a, dropped)
		}
	}()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := sdk.CheckPhaseChange(a, k.rots[a].Phase, req.Phase); err != nil {
		// Another rotation got here first.
		if key != nil {
			_ = k.store.removeKey(a, key)
		}
		return sdk.AuthorityState{}, err
	}
	chains := make(map[sdk.Authority][]*caKey, len(k.chains))
	for b, chain := range k.chains {
		chains[b] = chain
	}
	rots := make(map[sdk.Authority]rotation, len(k.rots)+1)
	for b, r := range k.rots {
		rots[b] = r
	}
	var drop *caKey
	switch req.Phase {
	case sdk.PhaseInit:
		old := *k.chains[a][0]
		old.retireAt = time.Time{}
		chains[a] = []*caKey{key, &old}
		// Keys a legacy one-step rotation still trusted are dropped:
		// a rotation trusts exactly two keys.
		rots[a] = rotation{Phase: sdk.PhaseInit, Started: k.now(), Grace: req.Grace, Automatic: req.Automatic}
	case sdk.PhaseRollback:
		// The old key is the one that remains.
		chains[a] = []*caKey{k.chains[a][1], k.chains[a][0]}
		r := rots[a]
		r.Phase = sdk.PhaseRollback
		rots[a] = r
	case sdk.PhaseStandby:
		drop = k.chains[a][1]
		chains[a] = k.chains[a][:1:1]
		delete(rots, a)
	default:
		r := rots[a]
		r.Phase = req.Phase
		rots[a] = r
	}
	if err := k.store.writeIndex(chains, rots); err != nil {
		if key != nil {
			_ = k.store.removeKey(a, key)
		}
		return sdk.AuthorityState{}, fmt.Errorf("rotating the %s authority to phase %s: %w", a, req.Phase, err)
	}
	k.chains, k.rots = chains, rots
	dropped = drop
	return k.stateLocked(a), nil
}

// retired is a key dropped from an authority.
type retired struct {
	a   sdk.Authority
	key *caKey
}

// pruneLocked drops the old keys whose grace period has ended (keys
// that a one-step rotation of an earlier keyway left trusted), from
// memory, the index and the store. A signing that raced a rotation
// without grace may then fail: its certificate would not have verified
// anyway, as its issuer is no longer trusted.
func (k *keyring) pruneLocked() error {
	now := k.now()
	next := make(map[sdk.Authority][]*caKey, len(k.chains))
	var dropped []retired
	for a, chain := range k.chains {
		if _, rotating := k.rots[a]; rotating {
			next[a] = chain
			continue
		}
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
	if err := k.store.writeIndex(next, k.rots); err != nil {
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
