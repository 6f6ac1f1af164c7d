package deploy

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/go-acme/lego/v4/certcrypto"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/store"
)

// encodePKCS12 builds a keystore with the key, the leaf and every
// intermediate, so a Java server sends the complete chain too. Modern2023
// (AES-256, PBKDF2) is what current Java (8u301+, 11.0.12+) reads.
func encodePKCS12(f store.Files, password string) ([]byte, error) {
	if password == "" {
		return nil, errors.New("the keystore password is empty")
	}
	certs, err := chain.ParsePEM(f.Fullchain)
	if err != nil {
		return nil, err
	}
	key, err := certcrypto.ParsePEMPrivateKey(f.Key)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	var cas []*x509.Certificate
	if len(certs) > 1 {
		cas = certs[1:]
	}
	return pkcs12.Modern2023.Encode(key, certs[0], cas, password)
}
