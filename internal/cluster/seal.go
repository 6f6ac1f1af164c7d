package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// sealer encrypts private keys before they enter etcd, with AES-256-GCM
// and the certificate's name and version as associated data: a sealed key
// moved to another certificate or version does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func associated(name, version string) []byte {
	return []byte("renewd key\x00" + name + "\x00" + version)
}

// seal returns nonce || ciphertext of plain.
func (s *sealer) seal(name, version string, plain []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails on Linux
	return s.aead.Seal(nonce, nonce, plain, associated(name, version))
}

// ErrCannotDecrypt says a sealed key does not open with this node's
// cluster key: cluster.key_file differs from the leader's.
var ErrCannotDecrypt = errors.New("cannot decrypt the private key: this node's cluster.key_file is not the one the leader used")

func (s *sealer) open(name, version string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrCannotDecrypt
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], associated(name, version))
	if err != nil {
		return nil, ErrCannotDecrypt
	}
	return plain, nil
}
