package check

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/renewd/renewd/internal/chain"
)

// parseChain parses a fullchain file strictly: a corrupted block is an
// error, not a shorter chain.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	return chain.ParsePEM(data)
}

// judgeKey checks that the stored private key belongs to the leaf: nginx
// refuses to load a pair that does not.
func judgeKey(r *Report, leaf *x509.Certificate, keyPEM []byte) {
	key, err := parseKey(keyPEM)
	switch {
	case err != nil:
		r.add(Key, Fail, "privkey.pem: %v", err)
	case !chain.KeyMatches(leaf, key):
		r.add(Key, Fail, "privkey.pem does not match the leaf in fullchain.pem: nginx would refuse to load the pair")
	default:
		r.add(Key, Pass, "privkey.pem matches the leaf")
	}
}

// parseKey reads the one PEM private key of a privkey.pem, in any of the
// encodings ACME clients write (PKCS#8, SEC 1 EC, PKCS#1 RSA).
func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return signer, nil
}
