package chain

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// LoadRoots returns the trust store chains must verify to: the system pool
// (an empty pool if the system has none, so a minimal container still works
// with explicit roots) plus every certificate in extraFiles. Extra roots are
// how tests trust Pebble and how a private CA is trusted (trust.extra_roots).
// A file may be PEM, with explanatory text between blocks as in CA bundles,
// or a single DER certificate. Errors name the file. The system pool honours
// SSL_CERT_FILE and SSL_CERT_DIR.
func LoadRoots(extraFiles []string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, name := range extraFiles {
		certs, err := readRoots(name)
		if err != nil {
			return nil, fmt.Errorf("trusted roots file %q: %w", name, err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

func readRoots(name string) ([]*x509.Certificate, error) {
	if name == "" {
		return nil, errors.New("empty file name")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(data, pemBegin) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor a DER certificate: %w", err)
		}
		return []*x509.Certificate{c}, nil
	}
	blocks, err := pemBlocks(data, true)
	if err != nil {
		return nil, err
	}
	return certsFromBlocks(blocks) // at least one block: data holds a -----BEGIN line
}
