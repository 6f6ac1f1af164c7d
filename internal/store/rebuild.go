package store

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// recordFromLive builds a record from what is live for name: the version
// live/<name> points at and the certificate fields of its cert.pem (see
// RecordFromCert); the renewal and retry fields stay empty. A link that is
// not one or leaves archive/<name>/, a missing, empty or unparsable file,
// or a key that does not match the certificate is an error; no live
// version matches ErrNotFound.
func (s *Store) recordFromLive(name string) (*Record, error) {
	files, version, err := s.Live(name)
	if err != nil {
		return nil, err
	}
	return recordFromFiles(name, version, files)
}

// recordFromFiles builds a record from one version's files; see
// recordFromLive.
func recordFromFiles(name, version string, files Files) (*Record, error) {
	block, _ := pem.Decode(files.Cert)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("cert.pem holds no PEM certificate")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cert.pem: %w", err)
	}
	pair, err := tls.X509KeyPair(files.Fullchain, files.Key)
	if err != nil {
		return nil, fmt.Errorf("fullchain.pem and privkey.pem: %w", err)
	}
	if !bytes.Equal(pair.Certificate[0], leaf.Raw) {
		return nil, errors.New("fullchain.pem does not start with the certificate in cert.pem")
	}
	r := &Record{Name: name, Version: version}
	RecordFromCert(r, leaf)
	return r, nil
}
