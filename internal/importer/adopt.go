package importer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/renewd/renewd/internal/store"
)

// This file is the importer's only contact with renewd's storage: the
// Adopter interface and its implementation over the store package.

// ErrManaged is returned (wrapped) when renewd's storage already has a
// live certificate by the name being imported.
var ErrManaged = errors.New("renewd already has a live certificate by this name")

// Adoption is a certificate to make live without ordering.
type Adoption struct {
	// Name is the renewd certificate name.
	Name string
	// Files are the complete, checked version: leaf, intermediates, key.
	Files store.Files
	// Leaf is the parsed leaf of Files, for the record.
	Leaf *x509.Certificate
	// Deployed says the deploy targets already hold exactly these files
	// (nginx serves them): nothing to deploy. When false, renewd's next
	// run deploys the version without a new order.
	Deployed bool
}

// Adopter is renewd's storage as the importer needs it.
//
// Contract: Managed changes nothing on disk (a dry run calls it); Lock
// takes the lock renewd's renewals take, waiting while ctx allows, and
// Adopt is called only while it is held. Adopt stores the files as a new
// version of the certificate, points live/<name> at it and records it
// (serial, dates, issuer and, when Deployed, the deployed version), all or
// nothing; it returns an error wrapping ErrManaged when name already has a
// live version. Implementations need not be safe for concurrent use.
type Adopter interface {
	Managed(name string) (bool, error)
	Lock(ctx context.Context) (release func(), err error)
	Adopt(a Adoption) (version string, err error)
}

// StoreAdopter is the Adopter over renewd's file storage.
type StoreAdopter struct {
	// Dir is the storage directory (storage: in renewd.yaml).
	Dir string

	st *store.Store // opened by Lock
}

var _ Adopter = (*StoreAdopter)(nil)

// Managed implements Adopter: it looks for live/<name> without opening
// (and so creating) the storage.
func (s *StoreAdopter) Managed(name string) (bool, error) {
	_, err := os.Lstat(filepath.Join(s.Dir, "live", name))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// Lock implements Adopter.
func (s *StoreAdopter) Lock(ctx context.Context) (func(), error) {
	st, err := store.Open(s.Dir)
	if err != nil {
		return nil, err
	}
	l, err := st.Lock(ctx)
	if err != nil {
		return nil, err
	}
	s.st = st
	return func() { _ = l.Unlock() }, nil
}

// Adopt implements Adopter. If the record cannot be written after the
// version is live, the next renewd run finds the live version unrecorded
// and records it itself (docs/crash-safety.md), so no order follows.
func (s *StoreAdopter) Adopt(a Adoption) (string, error) {
	if s.st == nil {
		return "", errors.New("adopt: storage not locked")
	}
	if _, err := s.st.LiveVersion(a.Name); err == nil {
		return "", fmt.Errorf("adopt %s: %w", a.Name, ErrManaged)
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("adopt %s: %w", a.Name, err)
	}
	version, err := s.st.SaveVersion(a.Name, a.Files)
	if err != nil {
		return "", fmt.Errorf("adopt %s: %w", a.Name, err)
	}
	// A record without a live version is a leftover (a certificate that
	// was configured once): its retries and errors are not this one's.
	rec := &store.Record{Name: a.Name}
	store.RecordFromCert(rec, a.Leaf)
	rec.Version = version
	if a.Deployed {
		rec.DeployedVersion = version
	}
	if err := s.st.SaveRecord(rec); err != nil {
		return version, fmt.Errorf("adopt %s: stored as %s but not recorded (the next run records it): %w", a.Name, version, err)
	}
	return version, nil
}
