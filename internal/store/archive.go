package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/renewd/renewd/internal/crashpoint"
)

// ErrNotFound is returned (wrapped, test with errors.Is) when a certificate
// has no live version.
var ErrNotFound = errors.New("not found")

// Files is one certificate version: the leaf, the intermediates in order
// (no root), leaf + intermediates, and the private key, all PEM.
type Files struct {
	Cert, Chain, Fullchain, Key []byte
}

// File names inside a version directory, and their modes.
const (
	certFile      = "cert.pem"
	chainFile     = "chain.pem"
	fullchainFile = "fullchain.pem"
	keyFile       = "privkey.pem"

	certPerm = 0o644
	keyPerm  = 0o600

	// maxPEMSize bounds each file Live reads; real ones are a few KiB.
	maxPEMSize = 1 << 20
	// maxSeq is the last version sequence number in one second; three digits
	// keep version names lexically sortable.
	maxSeq = 999

	versionTimeFormat = "20060102T150405Z"
)

// versionRE matches the version names SaveVersion makes.
var versionRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9]{3}$`)

// versionFiles are the files of a version, in the order they are written.
var versionFiles = []struct {
	name  string
	perm  os.FileMode
	field func(*Files) *[]byte
}{
	{certFile, certPerm, func(f *Files) *[]byte { return &f.Cert }},
	{chainFile, certPerm, func(f *Files) *[]byte { return &f.Chain }},
	{fullchainFile, certPerm, func(f *Files) *[]byte { return &f.Fullchain }},
	{keyFile, keyPerm, func(f *Files) *[]byte { return &f.Key }},
}

// SaveVersion writes a complete new version of certificate name under
// archive/<name>/<version>/ (privkey.pem 0600, the others 0644, directory
// 0700) and only then points live/<name> at it. The files are written into a
// hidden directory, fsynced with it, and renamed to their version name, so a
// version directory is always complete; live/<name> is swapped by renaming a
// new symlink over it, and live/ is fsynced.
//
// The version is "<UTC time>-<n>", for example "20261121T160000Z-001", with n
// counting versions made in the same second, so versions sort lexically in
// the order they were made.
//
// Until live/<name> points at it, the version carries a hidden mark
// (.unfinished): a version renewd stored and died before making live is
// told apart from an older version an operator pointed live/<name> back
// to on purpose (see Unfinished). SaveVersion clears the mark once the
// version is live.
//
// SaveVersion rejects names ValidName rejects and an empty Cert, Fullchain or
// Key; checking that the files belong together is the chain package's job.
// On error live/<name> is as it was and the new version is removed; in the
// one case where live/<name> already pointed at the new version and could not
// be pointed back, the version is kept and returned with the error.
func (s *Store) SaveVersion(name string, f Files) (version string, err error) {
	if s.readOnly {
		return "", fmt.Errorf("save %s: %w", name, ErrReadOnly)
	}
	if err := checkNewVersion(name, f); err != nil {
		return "", err
	}
	nameDir := filepath.Join(s.archiveRoot(), name)
	tmp, err := s.writeVersionDir(nameDir, f)
	if err != nil {
		return "", fmt.Errorf("save %s: %w", name, err)
	}
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	version, err = s.commitVersion(nameDir, tmp)
	if err != nil {
		_ = removeDir(s.fs, tmp)
		return "", fmt.Errorf("save %s: %w", name, err)
	}
	crashpoint.Hit("store-version-committed")
	kept, err := s.swapLive(name, version)
	if err != nil {
		if kept { // live points at it: it is finished, with an error to report
			s.clearUnfinished(filepath.Join(nameDir, version))
			return version, fmt.Errorf("save %s: %w", name, err)
		}
		_ = removeDir(s.fs, filepath.Join(nameDir, version))
		return "", fmt.Errorf("save %s: %w", name, err)
	}
	s.clearUnfinished(filepath.Join(nameDir, version))
	return version, nil
}

// checkNewVersion refuses what SaveVersion must not store: a name
// ValidName rejects, or an empty Cert, Fullchain or Key. Memory shares
// it, so the fake refuses what the store refuses.
func checkNewVersion(name string, f Files) error {
	if err := ValidName(name); err != nil {
		return err
	}
	for _, vf := range versionFiles {
		if vf.name != chainFile && len(*vf.field(&f)) == 0 {
			return fmt.Errorf("save %s: %s is empty", name, vf.name)
		}
	}
	return nil
}

// writeVersionDir writes and fsyncs the files of a version in a new hidden
// directory under nameDir and returns its path.
func (s *Store) writeVersionDir(nameDir string, f Files) (string, error) {
	created, err := ensureDir(s.fs, nameDir)
	if err != nil {
		return "", err
	}
	if created {
		if err := syncDir(s.fs, s.archiveRoot()); err != nil {
			return "", err
		}
	}
	tmp := tempPath(nameDir, "version", "new")
	if err := s.fs.Mkdir(tmp, dirPerm); err != nil {
		return "", err
	}
	for _, vf := range versionFiles {
		if err := createFile(s.fs, filepath.Join(tmp, vf.name), *vf.field(&f), vf.perm); err != nil {
			_ = removeDir(s.fs, tmp)
			return "", fmt.Errorf("write %s: %w", vf.name, err)
		}
		crashpoint.Hit("store-wrote-" + vf.name)
	}
	if err := createFile(s.fs, filepath.Join(tmp, unfinishedMark), nil, keyPerm); err != nil {
		_ = removeDir(s.fs, tmp)
		return "", fmt.Errorf("mark the new version unfinished: %w", err)
	}
	if err := syncDir(s.fs, tmp); err != nil {
		_ = removeDir(s.fs, tmp)
		return "", err
	}
	return tmp, nil
}

// commitVersion renames the finished hidden directory to the next free
// version name and fsyncs nameDir. Callers hold liveMu; other processes are
// kept out by the Lock, and a name taken anyway makes the rename fail and
// the next number be tried.
func (s *Store) commitVersion(nameDir, tmp string) (string, error) {
	stamp := s.now().UTC().Format(versionTimeFormat)
	for n := nextSeq(nameDir, stamp); n <= maxSeq; n++ {
		version := fmt.Sprintf("%s-%03d", stamp, n)
		dst := filepath.Join(nameDir, version)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		err := s.fs.Rename(tmp, dst)
		if errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
			continue
		}
		if err != nil {
			return "", err
		}
		if err := syncDir(s.fs, nameDir); err != nil {
			_ = removeDir(s.fs, dst)
			return "", err
		}
		return version, nil
	}
	return "", fmt.Errorf("more than %d versions in the second %s; try again in a second", maxSeq, stamp)
}

// nextSeq returns one more than the highest sequence number of the versions
// made in the second stamp.
func nextSeq(nameDir, stamp string) int {
	entries, _ := os.ReadDir(nameDir)
	n := 1
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), stamp+"-")
		if !ok || !versionRE.MatchString(e.Name()) {
			continue
		}
		if i, err := strconv.Atoi(rest); err == nil && i >= n {
			n = i + 1
		}
	}
	return n
}

// swapLive points live/<name> at version. On error, kept reports that
// live/<name> points at the new version after all (the link was renamed into
// place but could not be made durable, nor pointed back).
func (s *Store) swapLive(name, version string) (kept bool, err error) {
	link := s.LiveDir(name)
	old, err := os.Readlink(link)
	switch {
	case errors.Is(err, syscall.EINVAL):
		return false, fmt.Errorf("%s is not a symlink; renewd keeps it as a link to ../archive/%s/<version>: move it away", link, name)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("read live link: %w", err)
	}
	renamed, err := s.setLink(link, filepath.Join("..", "archive", name, version))
	if err == nil || !renamed {
		return false, err
	}
	// The new link is visible but may not survive a crash: point it back so
	// that an error means live/<name> did not change.
	var rerr error
	if old == "" {
		rerr = s.fs.Remove(link)
	} else if done, e := s.setLink(link, old); !done {
		rerr = e
	}
	if rerr != nil {
		return true, errors.Join(err, fmt.Errorf("point %s back at %s: %w; it now points at the new version %s", link, old, rerr, version))
	}
	return false, err
}

// setLink atomically makes link a symlink to target: a new symlink under a
// hidden name, renamed over link, then the directory fsynced. renamed says
// whether link changed, even when the fsync failed.
func (s *Store) setLink(link, target string) (renamed bool, err error) {
	dir := filepath.Dir(link)
	tmp := tempPath(dir, filepath.Base(link), "tmp")
	if err := s.fs.Symlink(target, tmp); err != nil {
		return false, fmt.Errorf("create live link: %w", err)
	}
	if err := s.fs.Rename(tmp, link); err != nil {
		_ = s.fs.Remove(tmp)
		return false, fmt.Errorf("replace live link: %w", err)
	}
	if err := syncDir(s.fs, dir); err != nil {
		return true, err
	}
	return true, nil
}

// LiveDir returns the path of live/<name>, the symlink to the version in
// use, for deploy code and for users' own configuration. It returns "" for a
// name ValidName rejects.
func (s *Store) LiveDir(name string) string {
	if ValidName(name) != nil {
		return ""
	}
	return filepath.Join(s.liveRoot(), name)
}

// Live returns the files and the version live/<name> points at, and an error
// matching ErrNotFound if there is no live/<name>. It refuses a live link
// that points anywhere but a version directory directly under
// archive/<name>/, and files that are empty (chain.pem excepted), larger
// than 1 MiB, or symlinks leading out of archive/<name>/.
func (s *Store) Live(name string) (Files, string, error) {
	if err := ValidName(name); err != nil {
		return Files{}, "", err
	}
	link := s.LiveDir(name)
	target, err := os.Readlink(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Files{}, "", fmt.Errorf("live/%s: %w", name, ErrNotFound)
	case errors.Is(err, syscall.EINVAL):
		return Files{}, "", fmt.Errorf("%s is not a symlink; renewd keeps it as a link to ../archive/%s/<version>: move it away and renew %s", link, name, name)
	case err != nil:
		return Files{}, "", fmt.Errorf("read live link: %w", err)
	}
	version, err := s.versionOf(name, target)
	if err != nil {
		return Files{}, "", err
	}
	files, err := s.readVersion(name, version)
	if err != nil {
		return Files{}, "", fmt.Errorf("live/%s -> %s: %w", name, target, err)
	}
	return files, version, nil
}

// versionOf checks that a live link target names a version directly under
// archive/<name>/ and returns the version.
func (s *Store) versionOf(name, target string) (string, error) {
	resolved := target
	if !filepath.IsAbs(resolved) {
		resolved = filepath.Join(s.liveRoot(), target)
	}
	resolved = filepath.Clean(resolved)
	version := filepath.Base(resolved)
	if filepath.Dir(resolved) != filepath.Join(s.archiveRoot(), name) || !versionRE.MatchString(version) {
		return "", fmt.Errorf("live/%s points at %q, outside archive/%s/ (renewd links it to ../archive/%s/<version>); refusing to use it: remove or fix the link", name, target, name, name)
	}
	return version, nil
}

// readVersion reads the files of a version through an os.Root on
// archive/<name>, so that no symlink in it can lead outside.
func (s *Store) readVersion(name, version string) (Files, error) {
	root, err := os.OpenRoot(filepath.Join(s.archiveRoot(), name))
	if err != nil {
		return Files{}, err
	}
	defer root.Close()
	read := func(file string) ([]byte, error) {
		f, err := root.Open(filepath.Join(version, file))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxPEMSize+1))
		switch {
		case err != nil:
			return nil, err
		case len(data) > maxPEMSize:
			return nil, fmt.Errorf("%s is larger than %d bytes", file, maxPEMSize)
		case len(data) == 0 && file != chainFile:
			return nil, fmt.Errorf("%s is empty", file)
		}
		return data, nil
	}
	var files Files
	for _, vf := range versionFiles {
		data, err := read(vf.name)
		if err != nil {
			return Files{}, err
		}
		*vf.field(&files) = data
	}
	return files, nil
}

// Versions returns the versions of certificate name in archive/, oldest
// first; none (and no error) if it has none. Hidden directories of versions
// being written are not listed.
func (s *Store) Versions(name string) ([]string, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(s.archiveRoot(), name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", name, err)
	}
	var versions []string
	for _, e := range entries {
		if e.IsDir() && versionRE.MatchString(e.Name()) {
			versions = append(versions, e.Name())
		}
	}
	slices.Sort(versions)
	return versions, nil
}

// Version returns the files of one archived version of name, with the same
// checks as Live.
func (s *Store) Version(name, version string) (Files, error) {
	if err := ValidName(name); err != nil {
		return Files{}, err
	}
	if !versionRE.MatchString(version) {
		return Files{}, fmt.Errorf("archive/%s: %q is not a version name", name, version)
	}
	if _, err := os.Lstat(filepath.Join(s.archiveRoot(), name, version)); errors.Is(err, fs.ErrNotExist) {
		return Files{}, fmt.Errorf("archive/%s/%s: %w", name, version, ErrNotFound)
	}
	return s.readVersion(name, version)
}

// unfinishedMark is the hidden file in a version directory that says the
// version was stored but not yet made live.
const unfinishedMark = ".unfinished"

// clearUnfinished removes a version's unfinished mark. It is best effort:
// a mark left behind only makes Unfinished name a version that is live
// already, and MakeLive of that changes nothing.
func (s *Store) clearUnfinished(versionDir string) {
	if err := s.fs.Remove(filepath.Join(versionDir, unfinishedMark)); err == nil {
		_ = syncDir(s.fs, versionDir)
	}
}

// Unfinished returns the newest version of name that SaveVersion stored
// completely but never made live (renewd died between the two), or ""
// when there is none. Versions without the mark, such as one an operator
// moved live/<name> away from, are never returned.
func (s *Store) Unfinished(name string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	dir := filepath.Join(s.archiveRoot(), name)
	if s.memo.noUnfinished(name, dir) {
		return "", nil
	}
	seen, err := os.Lstat(dir) // before the listing: a version renamed in after it changes what was seen
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil // never stored
	}
	versions, err := s.Versions(name)
	if err != nil {
		return "", err
	}
	for i := len(versions) - 1; i >= 0; i-- {
		_, err := os.Lstat(filepath.Join(dir, versions[i], unfinishedMark))
		if err == nil {
			return versions[i], nil
		}
	}
	s.memo.keepNoUnfinished(name, seen)
	return "", nil
}

// DropUnfinished clears the unfinished mark of a version that will not be
// made live (its files failed the checks): it stays in archive/ for a
// person to look at, and is not offered again.
func (s *Store) DropUnfinished(name, version string) error {
	if s.readOnly {
		return fmt.Errorf("drop %s: %w", name, ErrReadOnly)
	}
	if err := ValidName(name); err != nil {
		return err
	}
	if !versionRE.MatchString(version) {
		return fmt.Errorf("archive/%s: %q is not a version name", name, version)
	}
	s.clearUnfinished(filepath.Join(s.archiveRoot(), name, version))
	return nil
}

// LiveVersion returns the version live/<name> points at, reading only the
// link; an error matching ErrNotFound when there is none.
func (s *Store) LiveVersion(name string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	target, err := os.Readlink(s.LiveDir(name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("live/%s: %w", name, ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("read live link: %w", err)
	}
	return s.versionOf(name, target)
}

// LiveVersions returns the version every link in live/ names, by
// certificate name (a name without a link is absent), as LiveVersion
// would return them one by one. ok is false when one of them gives an
// error: ask LiveVersion for each name then. A writable Store remembers
// the answer while live/ is unchanged (memo.go), so a pass over thousands
// of certificates pays one lstat for all their live versions. The map is
// not to be changed.
func (s *Store) LiveVersions() (versions map[string]string, ok bool) {
	fi, err := os.Lstat(s.liveRoot()) // before the listing, as for records
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return map[string]string{}, true
	case err != nil || !fi.IsDir():
		return nil, false
	}
	if v := s.memo.liveVersions(fi); v != nil {
		return v, true
	}
	names, err := s.liveNames()
	if err != nil {
		return nil, false
	}
	versions = make(map[string]string, len(names))
	for _, name := range names {
		v, err := s.LiveVersion(name)
		if err != nil {
			return nil, false
		}
		versions[name] = v
	}
	s.memo.keepLive(fi, versions)
	return versions, true
}

// MakeLive points live/<name> at an archived version, atomically, and
// clears its unfinished mark: for a version that was written completely
// but not yet made live when renewd died (see Unfinished). The caller
// checks the version's files first.
func (s *Store) MakeLive(name, version string) error {
	if s.readOnly {
		return fmt.Errorf("make %s live: %w", name, ErrReadOnly)
	}
	if err := ValidName(name); err != nil {
		return err
	}
	if !versionRE.MatchString(version) {
		return fmt.Errorf("archive/%s: %q is not a version name", name, version)
	}
	if _, err := os.Stat(filepath.Join(s.archiveRoot(), name, version)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("make %s live: archive/%s/%s: %w", name, name, version, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("make %s live: %w", name, err)
	}
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if _, err := s.swapLive(name, version); err != nil {
		return fmt.Errorf("make %s live at %s: %w", name, version, err)
	}
	s.clearUnfinished(filepath.Join(s.archiveRoot(), name, version))
	return nil
}

// PutVersion stores f as version of name under that exact name, unless it
// is there already, and makes it live: a cluster node keeps the versions
// the leader committed under the leader's names, so every node and etcd
// agree on what "version V" is. Writing is as SaveVersion's, unfinished
// mark included.
func (s *Store) PutVersion(name, version string, f Files) error {
	if s.readOnly {
		return fmt.Errorf("put %s: %w", name, ErrReadOnly)
	}
	if err := ValidName(name); err != nil {
		return err
	}
	if !versionRE.MatchString(version) {
		return fmt.Errorf("archive/%s: %q is not a version name", name, version)
	}
	if err := checkNewVersion(name, f); err != nil {
		return err
	}
	nameDir := filepath.Join(s.archiveRoot(), name)
	dst := filepath.Join(nameDir, version)
	if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		tmp, err := s.writeVersionDir(nameDir, f)
		if err != nil {
			return fmt.Errorf("put %s: %w", name, err)
		}
		if err := s.fs.Rename(tmp, dst); err != nil {
			_ = removeDir(s.fs, tmp)
			if _, lerr := os.Lstat(dst); lerr != nil { // not a concurrent put of the same version
				return fmt.Errorf("put %s: %w", name, err)
			}
		} else if err := syncDir(s.fs, nameDir); err != nil {
			return fmt.Errorf("put %s: %w", name, err)
		}
	}
	return s.MakeLive(name, version)
}
