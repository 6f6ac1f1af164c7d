package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// WriteFunc writes one file atomically with its mode and owner (-1 keeps
// the writer's). store.WriteFileOwned is the real one; tests inject ENOSPC.
type WriteFunc func(path string, data []byte, perm os.FileMode, uid, gid int) error

var _ WriteFunc = store.WriteFileOwned

// SymlinkFunc creates a symbolic link at link holding target, like
// os.Symlink (which is the real one); tests inject EIO.
type SymlinkFunc func(target, link string) error

var _ SymlinkFunc = os.Symlink

// change is one installed target that a failed nginx test, reload or
// verification can undo.
type change interface {
	// paths are the configured paths the change is about, for messages.
	paths() []string
	// undo puts back what readers saw before. restored is false when
	// there was nothing worth putting back (no previous files, or a key
	// that did not match its certificate) and the new files stay.
	undo() (restored bool, err error)
}

// install puts the item's files in place: the fullchain and key as one
// pair (see pair), then the PKCS#12 keystore. Every target is checked
// before anything is written, so a refused path leaves everything as it
// was. On error what was already installed is undone: an item is
// installed whole or not at all.
func (d *Deployer) install(it *Item) ([]change, error) {
	dep := it.Deploy
	if err := checkTargets(dep); err != nil {
		return nil, err
	}
	var p12 []byte
	if dep.PKCS12.Path != "" {
		var err error
		if p12, err = encodePKCS12(it.Files, os.Getenv(dep.PKCS12.PasswordEnv)); err != nil {
			return nil, fmt.Errorf("pkcs12: %w", err)
		}
	}
	var done []change
	if dep.Fullchain != "" {
		c, err := newPair(d, it).install()
		if c != nil {
			done = append(done, c)
		}
		if err != nil {
			return nil, undo(done, err)
		}
	}
	if dep.PKCS12.Path != "" {
		c, err := d.installFile(dep.PKCS12.Path, "deploy.pkcs12.path", p12, dep)
		if err != nil {
			return nil, undo(done, err)
		}
		done = append(done, c)
	}
	return done, nil
}

// checkTargets refuses deploy paths renewd must not touch (a FIFO, a
// device, a directory, a link it did not make), naming the path.
func checkTargets(dep config.Deploy) error {
	var errs []error
	for _, t := range []struct {
		path, field string
		ours        func(string) bool
	}{
		{dep.Fullchain, "deploy.fullchain", isPairLink},
		{dep.Key, "deploy.key", isPairLink},
		{dep.PKCS12.Path, "deploy.pkcs12.path", nil},
	} {
		if t.path == "" {
			continue
		}
		if _, _, err := inspect(t.path, t.field, t.ours); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var (
	_ change = (*pairChange)(nil)
	_ change = (*fileChange)(nil)
)

// fileChange is one file replaced by an atomic write (the keystore), with
// what it held before.
type fileChange struct {
	write   WriteFunc
	path    string
	prev    []byte
	existed bool
	perm    os.FileMode
	uid     int
	gid     int
}

func (c *fileChange) paths() []string { return []string{c.path} }

func (c *fileChange) undo() (bool, error) {
	var err error
	if c.existed {
		err = c.write(c.path, c.prev, c.perm, c.uid, c.gid)
	} else {
		err = os.Remove(c.path)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("restore %s: %w", quoteName(c.path), err)
	}
	return true, nil
}

// installFile replaces the single file at path, keeping what it held (a
// regular file only, read without following a link) for undo.
func (d *Deployer) installFile(path, field string, data []byte, dep config.Deploy) (*fileChange, error) {
	c := &fileChange{write: d.write(), path: path, perm: dep.KeyPerm, uid: dep.UID, gid: dep.GID}
	kind, _, err := inspect(path, field, nil)
	if err != nil {
		return nil, err
	}
	if kind == targetFile {
		prev, fi, err := readRegular(path, field)
		if err != nil {
			return nil, err
		}
		c.prev, c.existed, c.perm = prev, true, fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			c.uid, c.gid = int(st.Uid), int(st.Gid) // the restore gives it back to its owner
		}
	}
	if err := c.write(path, data, dep.KeyPerm, dep.UID, dep.GID); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	return c, nil
}

// undo restores what install did, newest first, and says so in the error
// when that fails too (then the files on disk may be a mix, and a person
// must know) or when the new files stay because there was nothing to go
// back to.
func undo(done []change, cause error) error {
	var errs []error
	var kept []string
	for i := len(done) - 1; i >= 0; i-- {
		restored, err := done[i].undo()
		if err != nil {
			errs = append(errs, err)
		} else if !restored {
			kept = append(kept, done[i].paths()...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		cause = fmt.Errorf("%w; and restoring the previous files failed: %w", cause, err)
	}
	if len(kept) > 0 {
		cause = fmt.Errorf("%w; the new %s stay installed: what was there before was no matching certificate and key", cause, joinPaths(kept))
	}
	return cause
}

// Preflight checks, before any ACME order, that every deploy path is in an
// existing directory renewd can write to and is nothing renewd would
// refuse (a FIFO, a device, a link it did not make), so a typo or a
// hostile path does not cost an order.
func Preflight(d config.Deploy) error {
	if err := preflightBaota(d); err != nil {
		return err
	}
	for _, p := range []string{d.Fullchain, d.Key, d.PKCS12.Path} {
		if p == "" {
			continue
		}
		dir := filepath.Dir(p)
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("deploy: directory of %s: %w (create it first)", quoteName(p), err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("deploy: %s is not a directory", quoteName(dir))
		}
		// access(2) answers for root too on a read-only mount (EROFS).
		if err := unix.Access(dir, unix.W_OK); err != nil {
			return fmt.Errorf("deploy: cannot write in %s: %w", quoteName(dir), err)
		}
	}
	if err := checkTargets(d); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return nil
}
