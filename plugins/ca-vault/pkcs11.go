package cavault

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThalesGroup/crypto11"

	"github.com/keyway-dev/keyway/sdk"
)

// pkcs11Dir is the pkcs11 backend's directory inside the data directory.
const pkcs11Dir = "pkcs11"

// pkcs11Options configure the pkcs11 backend.
type pkcs11Options struct {
	dataDir string
	cluster string
	cfg     pkcs11Config
	now     func() time.Time
}

// tokenStore is the pkcs11 backend's keyStore: private keys generated
// and kept in a PKCS#11 token, which signs with them and never lets
// them out; the index and CA certificates in DATA_DIR/pkcs11.
//
// The certificates live beside the index rather than in the token
// because the index, which says which key is active and until when each
// retired one stays trusted, has to be on disk anyway: PKCS#11 has no
// transactions, and a certificate in the token could disagree with the
// index after a crash, whereas one atomic index write commits a
// rotation. Certificates are public, tokens' storage is often scarce,
// and trust does not rest on the files: every start checks each
// certificate against the public half of its token key and refuses a
// mismatch, so an altered or swapped file cannot make keyway sign with
// another key.
type tokenStore struct {
	*stateDir
	token *crypto11.Context
	opts  pkcs11Options

	// closeOnce guards token.Close, which must run once: a second call
	// would release the module under another context's feet.
	closeOnce sync.Once
	closeErr  error
}

var _ keyStore = (*tokenStore)(nil)

// firstKey returns a's key on the first start: the token's key pair
// labelled keyway-CLUSTER-TYPE if there is one, left by an interrupted
// first start or provisioned by the token's administrator; otherwise a
// new one generated in the token.
func (s *tokenStore) firstKey(a sdk.Authority) (*caKey, error) {
	label := tokenKeyLabel(s.opts.cluster, a)
	signer, err := findTokenKey(s.token, nil, []byte(label))
	if err != nil {
		return nil, err
	}
	if signer == nil {
		id, err := newKeyID()
		if err != nil {
			return nil, err
		}
		return s.createKey(a, id, label)
	}
	if err := checkKeyStaysInToken(s.token, signer, label); err != nil {
		return nil, err
	}
	rawID, err := tokenKeyID(s.token, signer)
	if err != nil {
		return nil, fmt.Errorf("token key %q: %w", label, err)
	}
	return s.certify(a, hex.EncodeToString(rawID), label, signer)
}

// newKey generates a new key pair for a in the token, labelled
// keyway-CLUSTER-TYPE-ID, and certifies it.
func (s *tokenStore) newKey(a sdk.Authority) (*caKey, error) {
	id, err := newKeyID()
	if err != nil {
		return nil, err
	}
	return s.createKey(a, id, tokenKeyLabel(s.opts.cluster, a)+"-"+id)
}

// createKey generates a key pair in the token and certifies it.
func (s *tokenStore) createKey(a sdk.Authority, id, label string) (*caKey, error) {
	rawID, err := hex.DecodeString(id)
	if err != nil {
		return nil, fmt.Errorf("key id %q: %w", id, err)
	}
	signer, err := generateTokenKey(s.token, s.opts.cfg.KeyAlgorithm, rawID, []byte(label))
	if err != nil {
		return nil, fmt.Errorf("generating the %s CA key %q in token %q: %w", a, label, s.opts.cfg.TokenLabel, err)
	}
	k, err := s.certify(a, id, label, signer)
	if err != nil {
		_ = signer.Delete()
		return nil, err
	}
	return k, nil
}

// certify self-signs, in the token, a CA certificate for signer and
// writes it.
func (s *tokenStore) certify(a sdk.Authority, id, label string, signer crypto11.Signer) (*caKey, error) {
	cert, err := selfSignedCA(signer, s.opts.cluster, a, s.opts.now())
	if err != nil {
		return nil, fmt.Errorf("token key %q: %w", label, err)
	}
	k := &caKey{id: id, label: label, cert: cert, signer: signer}
	if err := s.writeCert(a, k); err != nil {
		_ = s.removeFiles(a, id)
		return nil, err
	}
	return k, nil
}

// readKey finds the key pair an index entry names and reads its
// certificate.
func (s *tokenStore) readKey(a sdk.Authority, e indexEntry) (*caKey, error) {
	if e.Label == "" {
		return nil, fmt.Errorf("%s gives no token label for key %s", indexFile, e.ID)
	}
	rawID, err := hex.DecodeString(e.ID)
	if err != nil {
		return nil, fmt.Errorf("%s: key id %q is not hex: %w", indexFile, e.ID, err)
	}
	signer, err := findTokenKey(s.token, rawID, []byte(e.Label))
	if err != nil {
		return nil, err
	}
	if signer == nil {
		return nil, fmt.Errorf("token %q has no key pair labelled %q with id %s; is token_label the token these authorities were created in?", s.opts.cfg.TokenLabel, e.Label, e.ID)
	}
	if err := checkKeyStaysInToken(s.token, signer, e.Label); err != nil {
		return nil, err
	}
	cert, err := s.readCert(a, e.ID, signer.Public())
	if err != nil {
		return nil, err
	}
	return &caKey{id: e.ID, label: e.Label, cert: cert, signer: signer}, nil
}

// removeKey destroys a retired key pair in the token and deletes its
// certificate.
func (s *tokenStore) removeKey(a sdk.Authority, k *caKey) error {
	var errs []error
	if key, ok := k.signer.(crypto11.Signer); ok {
		if err := key.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("destroying token key %q: %w", k.label, err))
		}
	}
	errs = append(errs, s.removeFiles(a, k.id))
	return errors.Join(errs...)
}

// probe reads an attribute of each active key: it fails when the token
// session is broken (token removed, module finalised, HSM unreachable)
// or a key was destroyed.
func (s *tokenStore) probe(active []*caKey) error {
	for _, k := range active {
		if _, err := s.token.GetAttribute(k.signer, crypto11.CkaSign); err != nil {
			return fmt.Errorf("PKCS#11 token %q does not answer for key %q: %w", s.opts.cfg.TokenLabel, k.label, err)
		}
	}
	return nil
}

// close logs out of the token and releases the module; later calls do
// nothing.
func (s *tokenStore) close() error {
	s.closeOnce.Do(func() { s.closeErr = s.token.Close() })
	return s.closeErr
}
