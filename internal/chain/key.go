package chain

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// KeyMatches reports whether key's public half is the leaf's public key. A
// mismatch means nginx would refuse the pair (or, worse, a process that
// checks nothing would serve a certificate it cannot complete handshakes
// for), so renewd stores a certificate only with the key it was ordered with.
// Only ECDSA, RSA and Ed25519 keys are recognised: the ones ACME CAs issue for.
func KeyMatches(leaf *x509.Certificate, key crypto.Signer) bool {
	if leaf == nil || key == nil {
		return false
	}
	pub := key.Public()
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
	default:
		return false
	}
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(leaf.PublicKey)
}

func keyMismatch(leaf *x509.Certificate, key crypto.Signer) error {
	have := "none given"
	if key != nil {
		have = KeyKind(key.Public())
	}
	return fmt.Errorf("%w: leaf %q has a different public key (%s) than the order's private key (%s)",
		ErrKeyMismatch, Describe(leaf), KeyKind(leaf.PublicKey), have)
}

// KeyKind names a public key ("ECDSA P-256", "RSA 2048-bit") without
// printing it.
func KeyKind(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}
