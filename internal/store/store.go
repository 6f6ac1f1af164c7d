// Package store keeps renewd's files on disk: ACME accounts, every version of
// every certificate, the live link to the version in use, state.json and the
// lock that serialises renewd processes. Every write is atomic and durable
// (temporary file, fsync, rename, directory fsync), keys and state are 0600
// and directories 0700 at every moment.
package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// Store is the on-disk layout under one storage directory:
//
//	accounts/                 ACME accounts (written by the acme package)
//	live/<name>               -> ../archive/<name>/<version>
//	archive/<name>/<version>/ {cert,chain,fullchain,privkey}.pem
//	state.json                see State
//	renewd.lock               flock; never deleted
//
// A Store is safe for concurrent use by goroutines. Across processes, writers
// hold the Lock.
type Store struct {
	dir string

	// Test seams: every filesystem call that changes the disk, and the clock
	// that names versions and moved-aside state files.
	fs  fileSystem
	now func() time.Time

	stateMu sync.Mutex // serialises reading, writing and moving state.json in this process
	liveMu  sync.Mutex // serialises naming versions and swapping live links in this process
}

// Open creates the layout under dir (directories 0700, existing ones lose
// their group and other bits) and proves dir is writable by creating, syncing
// and removing a temporary file, so that an unwritable storage directory
// fails before any ACME request is made. Errors name the path and say what to
// do.
func Open(dir string) (*Store, error) {
	return open(dir, defaultFS, time.Now)
}

func open(dir string, fsys fileSystem, now func() time.Time) (*Store, error) {
	if dir == "" {
		return nil, errors.New("storage directory is not set; set storage: in renewd.yaml (default /var/lib/renewd)")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage directory %s: %w", dir, err)
	}
	s := &Store{dir: abs, fs: fsys, now: now}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) prepare() error {
	hint := "create it (mode 0700) owned by the user renewd runs as, or set storage: in renewd.yaml to such a directory"
	if err := mkdirAll(s.fs, s.dir); err != nil {
		return fmt.Errorf("storage directory %s: %w; %s", s.dir, err, hint)
	}
	// Probe first: on a read-only directory "not writable" is the message
	// that helps, not the chmod failure tightening would hit.
	if err := s.probe(); err != nil {
		return fmt.Errorf("storage directory %s is not writable: %w; make it writable by the user renewd runs as (and check the disk is not full or mounted read-only), or set storage: in renewd.yaml to a writable directory", s.dir, err)
	}
	if err := s.tightenRoot(); err != nil {
		return fmt.Errorf("storage directory %s: %w; %s", s.dir, err, hint)
	}
	created := false
	for _, sub := range []string{"accounts", "live", "archive"} {
		c, err := ensureDir(s.fs, filepath.Join(s.dir, sub))
		if err != nil {
			return fmt.Errorf("storage directory %s: %w", s.dir, err)
		}
		created = created || c
	}
	if created {
		if err := syncDir(s.fs, s.dir); err != nil {
			return fmt.Errorf("storage directory %s: %w", s.dir, err)
		}
	}
	return nil
}

func (s *Store) tightenRoot() error {
	fi, err := statDir(s.dir)
	if err != nil {
		return err
	}
	return tighten(s.fs, s.dir, fi.Mode().Perm())
}

// probe creates, writes, fsyncs and removes a hidden file in the storage
// directory: a read-only mount, missing permission or a full disk shows here.
func (s *Store) probe() error {
	p := tempPath(s.dir, "renewd", "probe")
	if err := createFile(s.fs, p, []byte("renewd\n"), 0o600); err != nil {
		return err
	}
	if err := s.fs.Remove(p); err != nil {
		return fmt.Errorf("remove test file: %w", err)
	}
	return nil
}

// Dir returns the absolute storage directory.
func (s *Store) Dir() string { return s.dir }

// AccountsDir returns <storage>/accounts (mode 0700), where the acme package
// keeps account keys and registrations.
func (s *Store) AccountsDir() string { return filepath.Join(s.dir, "accounts") }

func (s *Store) liveRoot() string    { return filepath.Join(s.dir, "live") }
func (s *Store) archiveRoot() string { return filepath.Join(s.dir, "archive") }
func (s *Store) statePath() string   { return filepath.Join(s.dir, "state.json") }
func (s *Store) lockPath() string    { return filepath.Join(s.dir, "renewd.lock") }
