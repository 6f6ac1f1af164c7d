package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
)

// KeyType is the kind of key a certificate gets.
type KeyType int

// The key types. ECDSA P-224 and RSA 1024 exist to test that weak keys are
// refused.
const (
	ECDSAP256 KeyType = iota
	ECDSAP384
	ECDSAP224
	RSA1024
	RSA2048
	RSA3072
	Ed25519
)

// String names the key type as people do.
func (t KeyType) String() string {
	switch t {
	case ECDSAP256:
		return "ECDSA P-256"
	case ECDSAP384:
		return "ECDSA P-384"
	case ECDSAP224:
		return "ECDSA P-224"
	case RSA1024:
		return "RSA 1024"
	case RSA2048:
		return "RSA 2048"
	case RSA3072:
		return "RSA 3072"
	case Ed25519:
		return "Ed25519"
	}
	return fmt.Sprintf("KeyType(%d)", int(t))
}

// NewKey generates a key of type t.
func NewKey(t KeyType) (crypto.Signer, error) { return t.generate() }

func (t KeyType) generate() (crypto.Signer, error) {
	switch t {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case ECDSAP224:
		return ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case RSA1024:
		return rsa.GenerateKey(rand.Reader, 1024)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %d", int(t))
}
