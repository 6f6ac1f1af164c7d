package store

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// RebuildState builds a State from what is live: for every live/<name>, a
// Record with the name, the version it points at and the certificate fields
// of its cert.pem (see RecordFromCert); the renewal and retry fields stay
// empty. An entry that cannot be used (a name ValidName rejects, a link that
// is not one or leaves archive/<name>/, a missing, empty or unparsable file,
// a key that does not match the certificate) is left out and reported in the
// returned errors, as is a failure to list live/. It never writes anything.
func (s *Store) RebuildState() (*State, []error) {
	st, skipped, err := s.rebuild()
	if err != nil {
		skipped = append(skipped, err)
	}
	return st, skipped
}

// rebuild is RebuildState with the I/O failure that makes the whole result
// unreliable (live/ cannot be listed) apart from the entries skipped.
func (s *Store) rebuild() (st *State, skipped []error, err error) {
	st = &State{Version: stateVersion, Certificates: map[string]*Record{}}
	entries, err := os.ReadDir(s.liveRoot())
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil, nil
	}
	if err != nil {
		return st, nil, fmt.Errorf("list live certificates: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if isTempName(name) {
			continue // a link being swapped, or left by a crash while swapping
		}
		if err := ValidName(name); err != nil {
			skipped = append(skipped, fmt.Errorf("live/%q skipped: %w", name, err))
			continue
		}
		r, err := s.recordFromLive(name)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("live/%s skipped: %w", name, err))
			continue
		}
		st.Certificates[name] = r
	}
	return st, skipped, nil
}

// recordFromLive reads and checks the live version of name.
func (s *Store) recordFromLive(name string) (*Record, error) {
	files, version, err := s.Live(name)
	if err != nil {
		return nil, err
	}
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
