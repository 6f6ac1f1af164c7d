package store

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// Fixed dates for every test.
var (
	t0 = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// faultFS is the real filesystem with a hook before every call. fail, if set,
// decides whether the call fails (and with what); check, if set, runs after
// every call and is where tests assert invariants that must hold at every
// moment. ops records every call as "op path".
type faultFS struct {
	mu    sync.Mutex
	fail  func(op, path string) error
	check func(op, path string)
	ops   []fsOp
}

type fsOp struct{ op, path string }

var _ fileSystem = (*faultFS)(nil)

func (f *faultFS) before(op, path string) error {
	f.mu.Lock()
	f.ops = append(f.ops, fsOp{op, path})
	fail := f.fail
	f.mu.Unlock()
	if fail == nil {
		return nil
	}
	if err := fail(op, path); err != nil {
		return &fs.PathError{Op: op, Path: path, Err: err}
	}
	return nil
}

func (f *faultFS) after(op, path string) {
	f.mu.Lock()
	check := f.check
	f.mu.Unlock()
	if check != nil {
		check(op, path)
	}
}

func (f *faultFS) do(op, path string, call func() error) error {
	if err := f.before(op, path); err != nil {
		f.after(op, path)
		return err
	}
	err := call()
	f.after(op, path)
	return err
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	var osf file
	err := f.do("open", name, func() (err error) {
		osf, err = osFS{}.OpenFile(name, flag, perm)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, f: osf, name: name}, nil
}

func (f *faultFS) Mkdir(name string, perm os.FileMode) error {
	return f.do("mkdir", name, func() error { return os.Mkdir(name, perm) })
}

func (f *faultFS) Chmod(name string, mode os.FileMode) error {
	return f.do("chmod", name, func() error { return os.Chmod(name, mode) })
}

func (f *faultFS) Link(oldname, newname string) error {
	return f.do("link", newname, func() error { return os.Link(oldname, newname) })
}

func (f *faultFS) Symlink(oldname, newname string) error {
	return f.do("symlink", newname, func() error { return os.Symlink(oldname, newname) })
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	return f.do("rename", newpath, func() error { return os.Rename(oldpath, newpath) })
}

func (f *faultFS) Remove(name string) error {
	return f.do("remove", name, func() error { return os.Remove(name) })
}

// faultFile routes the calls on an open file through the same hooks. A
// failing write writes half of the data first, as a full disk does.
type faultFile struct {
	fs   *faultFS
	f    file
	name string
}

func (ff *faultFile) Write(p []byte) (int, error) {
	if err := ff.fs.before("write", ff.name); err != nil {
		n, _ := ff.f.Write(p[:len(p)/2])
		ff.fs.after("write", ff.name)
		return n, err
	}
	n, err := ff.f.Write(p)
	ff.fs.after("write", ff.name)
	return n, err
}

func (ff *faultFile) Chmod(mode os.FileMode) error {
	return ff.fs.do("fchmod", ff.name, func() error { return ff.f.Chmod(mode) })
}

func (ff *faultFile) Chown(uid, gid int) error {
	return ff.fs.do("fchown", ff.name, func() error { return ff.f.Chown(uid, gid) })
}

func (ff *faultFile) Sync() error {
	return ff.fs.do("sync", ff.name, ff.f.Sync)
}

func (ff *faultFile) Close() error {
	if err := ff.fs.before("close", ff.name); err != nil {
		_ = ff.f.Close() // the descriptor is gone either way, as with close(2)
		ff.fs.after("close", ff.name)
		return err
	}
	err := ff.f.Close()
	ff.fs.after("close", ff.name)
	return err
}

func (ff *faultFile) Fd() uintptr { return ff.f.Fd() }

// failAt returns a fail hook that fails the n-th call (0-based) with errno.
func failAt(n int, errno error) func(op, path string) error {
	var mu sync.Mutex
	i := -1
	return func(op, path string) error {
		mu.Lock()
		defer mu.Unlock()
		i++
		if i == n {
			return errno
		}
		return nil
	}
}

// tempRE matches the random part of the store's temporary names.
var tempRE = regexp.MustCompile(`\.(tmp|bak|new|probe)-[0-9a-f]{12}`)

// describe turns a recorded call into a stable test name.
func describe(root string, o fsOp) string {
	rel, err := filepath.Rel(root, o.path)
	if err != nil {
		rel = o.path
	}
	if rel == "." {
		rel = "(dir)"
	}
	rel = tempRE.ReplaceAllString(filepath.ToSlash(rel), ".$1-*")
	rel = regexp.MustCompile(`[0-9]{8}T[0-9]{6}Z-[0-9]{3}`).ReplaceAllString(rel, "<version>")
	return o.op + " " + rel
}

// intendedPerm is the widest mode a file with this name may ever have,
// temporary names included.
func intendedPerm(name string) os.FileMode {
	base := name
	if m := regexp.MustCompile(`^\.(.+)\.(tmp|bak|probe)-[0-9a-f]+$`).FindStringSubmatch(name); m != nil {
		base = m[1]
	}
	switch base {
	case certFile, chainFile, fullchainFile:
		return certPerm
	default: // privkey.pem, state.json, renewd.lock, the probe, anything else
		return 0o600
	}
}

// checkModes walks root and reports every directory that is not exactly
// 0700 and every file with a mode wider than intended.
func checkModes(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walked
		}
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm()
		switch {
		case d.IsDir() && perm != dirPerm:
			t.Errorf("directory %s has mode %#o, want 0700", path, perm)
		case !d.IsDir() && perm&^intendedPerm(d.Name()) != 0:
			t.Errorf("file %s has mode %#o, wider than %#o", path, perm, intendedPerm(d.Name()))
		}
		return nil
	})
	if err != nil {
		t.Errorf("walk %s: %v", root, err)
	}
}

// leftovers returns every hidden (temporary) entry under root.
func leftovers(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != root && isTempName(d.Name()) {
			found = append(found, path)
		}
		return nil
	})
	return found
}

// openTest opens a store in a new temporary directory with the real
// filesystem and a fixed clock.
func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := open(t.TempDir(), osFS{}, fixedClock(t0))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testCA is a throwaway issuer for test certificates: a self-signed CA
// that issues the leaves directly.
type testCA struct{ root *testpki.Cert }

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	return &testCA{root: testpki.New(t, t0).Root(testpki.CN("renewd test intermediate"), testpki.Serial(1),
		testpki.KeyUsage(x509.KeyUsageCertSign), testpki.Validity(t0.AddDate(-1, 0, 0), t0.AddDate(5, 0, 0)))}
}

// issue makes a leaf for domains, valid from notBefore for 90 days, and
// returns the files of a version and the parsed leaf.
func (ca *testCA) issue(t *testing.T, serial int64, notBefore time.Time, domains ...string) (Files, *x509.Certificate) {
	t.Helper()
	leaf := testpki.New(t, t0).Issue(ca.root, testpki.CN(domains[0]), testpki.Names(domains...),
		testpki.Serial(serial), testpki.Validity(notBefore, notBefore.AddDate(0, 0, 90)))
	return Files{
		Cert:      testpki.PEM(leaf),
		Chain:     testpki.PEM(ca.root),
		Fullchain: testpki.PEM(leaf, ca.root),
		Key:       leaf.KeyPEM(),
	}, leaf.Cert
}

// mustSave saves a version or fails the test.
func mustSave(t *testing.T, s *Store, name string, f Files) string {
	t.Helper()
	v, err := s.SaveVersion(name, f)
	if err != nil {
		t.Fatalf("SaveVersion(%q): %v", name, err)
	}
	return v
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
