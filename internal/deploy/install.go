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

// installed remembers what a target path held before it was replaced, so a
// failed nginx test, reload or verification can put it back.
type installed struct {
	path    string
	prev    []byte // nil with existed=false: there was no file
	existed bool
	perm    os.FileMode
	uid     int
	gid     int
}

// install writes the item's files (fullchain, key, PKCS#12). On error the
// files it already replaced are restored, so an item is installed whole or
// not at all.
func install(write WriteFunc, it *Item) ([]installed, error) {
	d := it.Deploy
	type target struct {
		path string
		data []byte
		perm os.FileMode
	}
	var targets []target
	if d.Fullchain != "" {
		targets = append(targets, target{d.Fullchain, it.Files.Fullchain, d.FilePerm}, target{d.Key, it.Files.Key, d.KeyPerm})
	}
	if d.PKCS12.Path != "" {
		p12, err := encodePKCS12(it.Files, os.Getenv(d.PKCS12.PasswordEnv))
		if err != nil {
			return nil, fmt.Errorf("pkcs12: %w", err)
		}
		targets = append(targets, target{d.PKCS12.Path, p12, d.KeyPerm})
	}
	var done []installed
	for _, t := range targets {
		prev, err := snapshot(t.path, t.perm, d)
		if err != nil {
			return nil, undo(write, done, err)
		}
		if err := write(t.path, t.data, t.perm, d.UID, d.GID); err != nil {
			return nil, undo(write, done, fmt.Errorf("install: %w", err))
		}
		done = append(done, prev)
	}
	return done, nil
}

// undo restores what install already replaced and says so when that
// fails too: then the files on disk may be a mix, and a person must know.
func undo(write WriteFunc, done []installed, cause error) error {
	if rerr := restore(write, done); rerr != nil {
		return fmt.Errorf("%w; and restoring the previous files failed: %w", cause, rerr)
	}
	return cause
}

// snapshot reads what path holds now, with its mode and owner.
func snapshot(path string, perm os.FileMode, d config.Deploy) (installed, error) {
	in := installed{path: path, perm: perm, uid: d.UID, gid: d.GID}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return in, nil
	case err != nil:
		return in, fmt.Errorf("read the current %s: %w", path, err)
	}
	in.prev, in.existed = data, true
	if fi, err := os.Stat(path); err == nil {
		in.perm = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			in.uid, in.gid = int(st.Uid), int(st.Gid) // restore gives it back to its owner
		}
	}
	return in, nil
}

// restore puts back what install replaced, newest first. It reports every
// file it could not restore.
func restore(write WriteFunc, done []installed) error {
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		in := done[i]
		var err error
		if in.existed {
			err = write(in.path, in.prev, in.perm, in.uid, in.gid)
		} else {
			err = os.Remove(in.path)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("restore %s: %w", in.path, err))
		}
	}
	return errors.Join(errs...)
}

// Preflight checks, before any ACME order, that every deploy path is in an
// existing directory renewd can write to, so a typo does not cost an order.
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
			return fmt.Errorf("deploy: directory of %s: %w (create it first)", p, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("deploy: %s is not a directory", dir)
		}
		// access(2) answers for root too on a read-only mount (EROFS).
		if err := unix.Access(dir, unix.W_OK); err != nil {
			return fmt.Errorf("deploy: cannot write in %s: %w", dir, err)
		}
	}
	return nil
}

var _ WriteFunc = store.WriteFileOwned
