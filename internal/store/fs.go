package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// fileSystem is every call the store makes that changes the disk and can
// fail. Store holds one and WriteFile uses defaultFS, so unit tests can inject
// EIO or ENOSPC at any single step. Reads (Stat, ReadDir, Readlink, reading
// files) go straight to the os package: a failed read changes nothing.
// Implementations must be safe for concurrent use.
type fileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	Mkdir(name string, perm os.FileMode) error
	Chmod(name string, mode os.FileMode) error
	Link(oldname, newname string) error
	Symlink(oldname, newname string) error
	Rename(oldpath, newpath string) error
	Remove(name string) error
}

// file is the part of *os.File the store writes through. Fd is for flock.
type file interface {
	Write(p []byte) (int, error)
	Chmod(mode os.FileMode) error
	Chown(uid, gid int) error
	Sync() error
	Close() error
	Fd() uintptr
}

// osFS is the real filesystem.
type osFS struct{}

var (
	_ fileSystem = osFS{}
	_ file       = (*os.File)(nil)
)

// defaultFS is what WriteFile and Open use.
var defaultFS fileSystem = osFS{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return f, nil
}

func (osFS) Mkdir(name string, perm os.FileMode) error { return os.Mkdir(name, perm) }
func (osFS) Chmod(name string, mode os.FileMode) error { return os.Chmod(name, mode) }
func (osFS) Link(oldname, newname string) error        { return os.Link(oldname, newname) }
func (osFS) Symlink(oldname, newname string) error     { return os.Symlink(oldname, newname) }
func (osFS) Rename(oldpath, newpath string) error      { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                  { return os.Remove(name) }

const (
	dirPerm = 0o700
	// createFlags create a file that did not exist, never through a symlink.
	createFlags = os.O_WRONLY | os.O_CREATE | os.O_EXCL | syscall.O_NOFOLLOW
)

// syncDir fsyncs a directory so that the entries created, renamed or removed
// in it survive a crash.
func syncDir(fsys fileSystem, dir string) error {
	d, err := fsys.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("fsync directory: %w", err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}

// tempPath returns a fresh hidden name next to base in dir:
// ".<base>.<kind>-<random>". Every temporary name the store makes starts with
// a dot, so listings can skip them.
func tempPath(dir, base, kind string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails on Linux (crypto/rand documents this)
	return filepath.Join(dir, "."+base+"."+kind+"-"+hex.EncodeToString(b[:]))
}

// isTempName reports whether a directory entry is one of the store's
// temporary names (or any other hidden file), which listings ignore.
func isTempName(name string) bool { return len(name) > 0 && name[0] == '.' }

// mkdirAll creates path and any missing parents with mode 0700, following
// symlinks on the way (a storage directory may be a symlink).
func mkdirAll(fsys fileSystem, path string) error {
	fi, err := os.Stat(path)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", path)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if parent := filepath.Dir(path); parent != path {
		if err := mkdirAll(fsys, parent); err != nil {
			return err
		}
	}
	if err := fsys.Mkdir(path, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// ensureDir makes path a real directory (not a symlink) without group or
// other access: it creates it 0700 or removes the group and other bits of an
// existing one. created says whether it was made here, so the caller knows to
// fsync the parent.
func ensureDir(fsys fileSystem, path string) (created bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := fsys.Mkdir(path, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
			return false, err
		}
		created = true
		fi, err = os.Lstat(path)
	}
	if err != nil {
		return created, err
	}
	if !fi.IsDir() {
		what := "a file"
		if fi.Mode()&fs.ModeSymlink != 0 {
			what = "a symlink"
		}
		return created, fmt.Errorf("%s is %s, not a directory; move it away so renewd can create the directory", path, what)
	}
	return created, tighten(fsys, path, fi.Mode().Perm())
}

// tighten removes group and other access from a directory. It never adds
// bits: a directory the owner made read-only stays read-only.
func tighten(fsys fileSystem, path string, perm os.FileMode) error {
	if perm&0o077 == 0 {
		return nil
	}
	if err := fsys.Chmod(path, perm&dirPerm); err != nil {
		return fmt.Errorf("restrict %s to mode %#o: %w", path, perm&dirPerm, err)
	}
	return nil
}

// removeDir removes a directory the store made and the files in it (one
// level, no recursion: version directories are flat). Errors are ignored by
// callers that are already failing; it is best effort.
func removeDir(fsys fileSystem, dir string) error {
	entries, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range entries {
		if err := fsys.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if err := fsys.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// statDir stats path, following symlinks, and insists on a directory.
func statDir(path string) (fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", path)
	}
	return fi, nil
}
