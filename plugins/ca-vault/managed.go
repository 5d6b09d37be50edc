package cavault

import (
	"fmt"
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

// managedStore is the managed backend's keyStore: keys that keyway
// generates and keeps sealed under the kek in its state directory.
type managedStore struct {
	*stateDir
	sealer *sealer
	opts   managedOptions
}

var _ keyStore = (*managedStore)(nil)

// newKey generates a key and writes it with its certificate.
func (s *managedStore) newKey(a sdk.Authority) (*caKey, error) {
	k, err := newCAKey(s.opts, a)
	if err != nil {
		return nil, err
	}
	if err := s.writeKey(a, k); err != nil {
		_ = s.removeFiles(a, k.id)
		return nil, err
	}
	return k, nil
}

func (s *managedStore) removeKey(a sdk.Authority, k *caKey) error {
	return s.removeFiles(a, k.id)
}

// probe has nothing to check: the keys are in memory.
func (s *managedStore) probe([]*caKey) error { return nil }

func (s *managedStore) close() error { return nil }

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
