package cavault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
)

// kekSize is the size of the key-encryption key: AES-256.
const kekSize = 32

// sealer encrypts CA keys at rest with AES-256-GCM under the kek.
type sealer struct {
	aead cipher.AEAD
}

// newKEK returns a fresh random key-encryption key.
func newKEK() ([]byte, error) {
	kek := make([]byte, kekSize)
	if _, err := rand.Read(kek); err != nil {
		return nil, fmt.Errorf("generating the key-encryption key: %w", err)
	}
	return kek, nil
}

// readKEK reads the key-encryption key at path, refusing one that group
// or others can read.
func readKEK(path string) ([]byte, error) {
	if err := checkPrivate(path); err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	kek, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the key-encryption key: %w", err)
	}
	if len(kek) != kekSize {
		return nil, fmt.Errorf("key-encryption key %s has %d bytes, want %d", path, len(kek), kekSize)
	}
	return kek, nil
}

// newSealer returns a sealer using kek.
func newSealer(kek []byte) (*sealer, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts plaintext bound to aad; the result is nonce || ciphertext.
func (s *sealer) seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("generating a nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// open decrypts what seal returned for the same aad.
func (s *sealer) open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed key is truncated")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, errors.New("sealed key does not decrypt: it was altered, belongs to another slot, or was sealed under another key-encryption key")
	}
	return plain, nil
}
