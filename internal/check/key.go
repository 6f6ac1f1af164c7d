package check

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/renewd/renewd/internal/chain"
)

// judgeKey checks that the private key (what names it: "privkey.pem")
// belongs to the leaf: nginx refuses to load a pair that does not. Only
// the kind of key is ever printed, never the key.
func judgeKey(r *Report, leaf *x509.Certificate, what string, keyPEM []byte) {
	key, err := parseKey(keyPEM)
	switch {
	case err != nil:
		r.add(Key, Fail, "%s: %v", what, err)
	case !chain.KeyMatches(leaf, key):
		r.add(Key, Fail, "%s (%s) does not match the leaf's key (%s): nginx would refuse to load the pair",
			what, chain.KeyKind(key.Public()), chain.KeyKind(leaf.PublicKey))
	default:
		r.add(Key, Pass, "%s matches the leaf", what)
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
