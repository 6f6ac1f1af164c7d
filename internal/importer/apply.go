package importer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/renewd/renewd/internal/store"
	"os"
	"path/filepath"
	"syscall"
)

// domainsFilePerm is the mode of a written domains.d file: it holds no
// secret (DNS credentials stay in the environment, as ${VAR}).
const domainsFilePerm = 0o644

// Apply carries out the plan's ready items under the storage lock: it
// writes their domains.d files (never replacing a file), asks validate
// whether the configuration with them loads, then adopts each
// certificate. Each certificate is imported whole or not at all: a file
// whose certificate cannot be adopted is removed again, and when validate
// fails every written file is. The items record what happened (Version or
// Problem); the error is for what stopped the whole import.
func Apply(ctx context.Context, p *Plan, a Adopter, validate func() error) error {
	var ready []*Item
	for _, it := range p.Items {
		if it.Ready() {
			ready = append(ready, it)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	release, err := a.Lock(ctx)
	if err != nil {
		return fmt.Errorf("lock renewd's storage: %w", err)
	}
	defer release()
	var written []*Item
	for _, it := range ready {
		if err := writeNew(it.File, it.YAML, domainsFilePerm); err != nil {
			it.Problem = err
			continue
		}
		written = append(written, it)
	}
	if err := validate(); err != nil {
		for _, it := range written {
			_ = os.Remove(it.File)
			it.Problem = errors.New("not imported: the new domains.d files do not pass config check (see below); they were removed again")
		}
		return fmt.Errorf("the configuration with the imported files does not load; nothing was imported:\n%w", err)
	}
	for _, it := range written {
		if err := unlinkDeployPaths(it); err != nil {
			_ = os.Remove(it.File)
			it.Problem = fmt.Errorf("not imported (%s removed again): %w", it.File, err)
			continue
		}
		version, err := a.Adopt(Adoption{Name: it.Name, Files: it.Files, Leaf: it.Leaf, Deployed: it.Deployed})
		it.Version = version
		if err != nil && version == "" {
			_ = os.Remove(it.File)
			it.Problem = fmt.Errorf("not imported (%s removed again): %w", it.File, err)
		} else if err != nil {
			it.Notes = append(it.Notes, err.Error())
		}
	}
	return nil
}

// writeNew writes a new file atomically and never over an existing one:
// a temporary file is written and synced, then hard-linked to its name
// (which fails if the name exists), and the directory synced.
func writeNew(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+"."+hex.EncodeToString(rnd[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp)
	if err := writeSync(f, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeSync sets f's mode exactly (the umask may have narrowed it), writes
// data, syncs and closes f.
func writeSync(f *os.File, data []byte, perm os.FileMode) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// unlinkDeployPaths turns deploy paths that are the other tool's symlinks
// (certbot's live/<name>/fullchain.pem -> ../../archive/...) into regular
// files with the same content, each with one atomic rename over the link:
// nginx reads the same certificate throughout. renewd's deploy refuses to
// write through links it did not make (docs/deploy.md), so without this
// the first renewal would fail; taking the paths over is what the import
// is for, and it is said in the plan.
func unlinkDeployPaths(it *Item) error {
	for _, t := range []struct {
		path string
		perm os.FileMode
	}{{it.Deploy.Fullchain, 0o644}, {it.Deploy.Key, 0o600}} {
		if t.path == "" {
			continue
		}
		fi, err := os.Lstat(t.path)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			continue
		}
		target, err := os.Stat(t.path)
		if err != nil || !target.Mode().IsRegular() || target.Size() > 1<<20 {
			return fmt.Errorf("%s is a link to something that is not a certificate file; point it at a regular file first", t.path)
		}
		data, err := os.ReadFile(t.path)
		if err != nil {
			return err
		}
		if err := store.WriteFile(t.path, data, t.perm); err != nil {
			return fmt.Errorf("replace the link %s with a file renewd manages: %w", t.path, err)
		}
		it.Notes = append(it.Notes, fmt.Sprintf("%s was a link into the other tool's directory; it is now a file with the same content, which renewd manages", t.path))
	}
	return nil
}
