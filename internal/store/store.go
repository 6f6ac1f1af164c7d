// Package store keeps renewd's files on disk: ACME accounts, every version of
// every certificate, the live link to the version in use, one record file per
// certificate and the lock that serialises renewd processes. Every write is
// atomic and durable (temporary file, fsync, rename, directory fsync), keys
// and records are 0600 and directories 0700 at every moment. A store opened
// read-only changes nothing on disk. docs/storage.md describes the layout.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Store is the on-disk layout under one storage directory:
//
//	accounts/                 ACME accounts (written by the acme package)
//	live/<name>               -> ../archive/<name>/<version>
//	archive/<name>/<version>/ {cert,chain,fullchain,privkey}.pem
//	state/<name>.json         one Record per certificate
//	renewd.lock               flock; never deleted
//	daemon.lock               flock held by `renewd run`; never deleted
//
// A Store is safe for concurrent use by goroutines. Across processes, writers
// hold the Lock.
type Store struct {
	dir string

	// Test seams: every filesystem call that changes the disk, and the clock
	// that names versions and moved-aside state files.
	fs  fileSystem
	now func() time.Time

	readOnly bool     // OpenReadOnly: every change is refused with ErrReadOnly
	notes    []string // what Open did that a person should know

	recordMu sync.Mutex // serialises writing and removing record files in this process
	liveMu   sync.Mutex // serialises naming versions and swapping live links in this process

	sharedProbed atomic.Pointer[time.Time] // when Probe last found live/ and state/ writable

	memo *memo // records parsed before and still on disk as they were (memo.go); nil when read-only
}

// Open opens dir for renewals: it creates the layout (directories 0700,
// existing ones lose their group and other bits), proves dir is writable by
// creating, syncing and removing a temporary file, so that an unwritable
// storage directory fails before any ACME request is made, and migrates a
// first-release state.json into state/ (see Notes). Errors name the path
// and say what to do.
func Open(dir string) (*Store, error) {
	return open(dir, defaultFS, time.Now)
}

// OpenReadOnly opens dir for commands that only look (status, check,
// config check, dry runs' reads): it creates, writes, moves and chmods
// nothing, and a missing directory is an empty store. Every method that
// would change the disk returns an error matching ErrReadOnly.
func OpenReadOnly(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("storage directory is not set; set storage: in renewd.yaml (default /var/lib/renewd)")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage directory %s: %w", dir, err)
	}
	s := &Store{dir: abs, fs: defaultFS, now: time.Now, readOnly: true}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("storage directory %s is not a directory", abs)
	}
	return s, nil
}

// ReadOnly reports whether the store was opened with OpenReadOnly.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Notes says what Open did that a person should know: a migration of
// state.json, or an unusable one moved aside. Empty most of the time.
func (s *Store) Notes() []string { return s.notes }

func open(dir string, fsys fileSystem, now func() time.Time) (*Store, error) {
	if dir == "" {
		return nil, errors.New("storage directory is not set; set storage: in renewd.yaml (default /var/lib/renewd)")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage directory %s: %w", dir, err)
	}
	s := &Store{dir: abs, fs: fsys, now: now, memo: newMemo()}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if err := s.migrate(); err != nil {
		return nil, fmt.Errorf("storage directory %s: %w", s.dir, err)
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
	for _, sub := range []string{"accounts", "live", "archive", "state"} {
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
func (s *Store) probe() error { return probeDir(s.fs, s.dir, true) }

// probeDir creates, writes (and with sync, fsyncs) and removes a hidden
// file in dir. Open probes once with sync, so a disk that fails its
// fsyncs shows at start; the probe before each order (Probe) asks only
// whether the directories take a file (immutable, read-only, full): three
// fsyncs per certificate were a tenth of a large pass's CPU.
func probeDir(fsys fileSystem, dir string, sync bool) error {
	p := tempPath(dir, "renewd", "probe")
	f, err := fsys.OpenFile(p, createFlags, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte("renewd\n"))
	if werr == nil && sync {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = fsys.Remove(p)
		return werr
	}
	if err := fsys.Remove(p); err != nil {
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
func (s *Store) lockPath() string    { return filepath.Join(s.dir, "renewd.lock") }

// Probe proves, before an order, that renewd can write where storing
// certificate name will write: archive/<name>, live/ and state/. A
// directory made immutable (chattr +i) or on a read-only mount passes a
// look at its mode bits but not this: an order whose certificate could
// not be stored would be thrown away. live/ and state/, shared by every
// certificate, are probed at most once per sharedProbeEvery while they
// pass; archive/<name> every time.
func (s *Store) Probe(name string) error {
	if s.readOnly {
		return fmt.Errorf("probe: %w", ErrReadOnly)
	}
	if err := ValidName(name); err != nil {
		return err
	}
	nameDir := filepath.Join(s.archiveRoot(), name)
	if _, err := ensureDir(s.fs, nameDir); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	dirs := []string{nameDir}
	if s.sharedProbeDue() {
		dirs = append(dirs, s.liveRoot(), s.stateRoot())
	}
	for _, dir := range dirs {
		if err := probeDir(s.fs, dir, false); err != nil {
			s.sharedProbed.Store(nil)
			return fmt.Errorf("storage: cannot write in %s: %w (check it is not immutable (lsattr), read-only or full)", dir, err)
		}
	}
	if len(dirs) > 1 {
		now := s.now()
		s.sharedProbed.Store(&now)
	}
	return nil
}

// sharedProbeEvery is how often Probe writes a test file in live/ and
// state/, which every certificate shares. A pass of a thousand
// certificates probed them two thousand times, each a new file: on some
// file systems creating a file costs far more than writing one. A
// directory that turns read-only between two probes still costs no
// order: the version stored in archive/ is made live by the next pass
// (docs/crash-safety.md).
const sharedProbeEvery = 10 * time.Second

// sharedProbeDue reports whether live/ and state/ have not been probed
// successfully in the last sharedProbeEvery.
func (s *Store) sharedProbeDue() bool {
	last := s.sharedProbed.Load()
	if last == nil {
		return true
	}
	age := s.now().Sub(*last)
	return age < 0 || age >= sharedProbeEvery
}
