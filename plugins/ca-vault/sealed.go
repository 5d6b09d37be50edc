package cavault

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/keyway-dev/keyway/sdk"
)

// Names of the managed backend's own files.
const (
	kekFile        = "kek"
	sealedKeyBlock = "KEYWAY SEALED CA KEY"
)

// keyAAD binds a sealed key to its authority and id, so that a key file
// copied into another slot does not decrypt.
func keyAAD(a sdk.Authority, id string) []byte {
	return []byte("keyway ca-vault key v1\x00" + a.String() + "\x00" + id)
}

// writeKey writes k's certificate and sealed private key.
func (s *managedStore) writeKey(a sdk.Authority, k *caKey) error {
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
	return s.writeCert(a, k)
}

// readKey reads and decrypts one key with its certificate.
func (s *managedStore) readKey(a sdk.Authority, e indexEntry) (*caKey, error) {
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
	cert, err := s.readCert(a, e.ID, signer.Public())
	if err != nil {
		return nil, err
	}
	return &caKey{id: e.ID, cert: cert, signer: signer}, nil
}
