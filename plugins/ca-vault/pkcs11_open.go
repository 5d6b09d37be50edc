package cavault

import (
	"fmt"

	"github.com/ThalesGroup/crypto11"

	"github.com/keyway-dev/keyway/sdk"
)

// openPKCS11 logs into the token and loads the authorities, creating
// them on the first start.
func openPKCS11(opts pkcs11Options) (*keyring, error) {
	token, err := openToken(opts.cfg)
	if err != nil {
		return nil, err
	}
	k, err := loadPKCS11(opts, token)
	if err != nil {
		_ = token.Close()
		return nil, err
	}
	return k, nil
}

// loadPKCS11 opens the state directory, creating it with four
// authorities on the first start, and finds their keys in token.
func loadPKCS11(opts pkcs11Options, token *crypto11.Context) (*keyring, error) {
	dir, err := openStateDir(opts.dataDir, pkcs11Dir, func(tmp string) error {
		return initPKCS11(&tokenStore{stateDir: &stateDir{dir: tmp}, token: token, opts: opts})
	})
	if err != nil {
		return nil, err
	}
	st := &tokenStore{stateDir: &stateDir{dir: dir}, token: token, opts: opts}
	chains, err := st.loadChains(st.readKey)
	if err != nil {
		return nil, fmt.Errorf("loading the cluster's authorities from %s and token %q: %w", dir, opts.cfg.TokenLabel, err)
	}
	rots, err := st.readRotations()
	if err != nil {
		return nil, err
	}
	k, err := newKeyring(opts.now, st, chains, rots)
	if err != nil {
		return nil, err
	}
	// Certificates of an interrupted rotation are harmless; its key
	// pair, if any, stays in the token unused.
	_ = st.removeOrphans(k.chains)
	return k, nil
}

// initPKCS11 gives each authority its first key and writes the index.
func initPKCS11(st *tokenStore) error {
	chains := map[sdk.Authority][]*caKey{}
	for _, a := range authorities() {
		k, err := st.firstKey(a)
		if err != nil {
			return err
		}
		for _, other := range chains {
			if publicKeysEqual(other[0].signer.Public(), k.signer.Public()) {
				return fmt.Errorf("token keys %q and %q are the same key; each authority needs its own", other[0].label, k.label)
			}
		}
		chains[a] = []*caKey{k}
	}
	return st.writeIndex(chains, nil)
}
