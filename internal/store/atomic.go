package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/renewd/renewd/internal/crashpoint"
)

// WriteFile writes data to path atomically, in the way tailscale's atomicfile
// does: a temporary file in the same directory, created O_EXCL|O_NOFOLLOW with
// perm from the start (so a key is never readable by others, not even as a
// temporary file, whatever the umask) -> write -> fsync -> close -> rename ->
// fsync the directory.
//
// On any error the temporary file is removed and path holds what it held
// before, or is absent if it was: the old file is kept as a hidden hard link
// until the directory fsync succeeded, and put back if it failed. A symlink at
// path is replaced, never followed. WriteFile does not serialise writers of
// the same path; callers hold the store Lock or their own mutex.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return writeFile(defaultFS, path, data, perm, noOwner)
}

// WriteFileOwned is WriteFile with the file owned by uid and gid (-1 keeps
// the writer's) from before the rename, so the file never appears at path
// with another owner: nginx or a Java server reading it as its own user
// never sees a file it cannot open.
func WriteFileOwned(path string, data []byte, perm os.FileMode, uid, gid int) error {
	return writeFile(defaultFS, path, data, perm, owner{uid, gid})
}

// owner of a file to create; -1 keeps the creator's.
type owner struct{ uid, gid int }

var noOwner = owner{-1, -1}

func writeFile(fsys fileSystem, path string, data []byte, perm os.FileMode, own owner) error {
	if err := writeFileSteps(fsys, path, data, perm, own); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeFileSteps(fsys fileSystem, path string, data []byte, perm os.FileMode, own owner) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	tmp, err := createTemp(fsys, dir, base, data, perm, own)
	if err != nil {
		return err
	}
	backup, err := linkBackup(fsys, path)
	if err != nil {
		_ = fsys.Remove(tmp)
		return err
	}
	crashpoint.Hit("atomic-before-rename")
	if err := fsys.Rename(tmp, path); err != nil {
		_ = fsys.Remove(tmp)
		removeIf(fsys, backup)
		return err
	}
	if err := syncDir(fsys, dir); err != nil {
		// The new file is visible but may not survive a crash. Put the old
		// one back so that an error always means "nothing changed".
		if rerr := restore(fsys, path, backup); rerr != nil {
			return errors.Join(err, fmt.Errorf("restore the previous file: %w", rerr))
		}
		return err
	}
	removeIf(fsys, backup)
	return nil
}

// createTemp writes data to a new hidden file next to base in dir and returns
// its path. On error nothing is left behind.
func createTemp(fsys fileSystem, dir, base string, data []byte, perm os.FileMode, own owner) (string, error) {
	for range 10 {
		tmp := tempPath(dir, base, "tmp")
		err := createOwnedFile(fsys, tmp, data, perm, own)
		if errors.Is(err, fs.ErrExist) {
			continue // a 48-bit random collision; try another name
		}
		return tmp, err
	}
	return "", fmt.Errorf("create a temporary file in %s: too many name collisions", dir)
}

// createFile creates path, which must not exist, with exactly perm, and
// writes and fsyncs data (an empty file is not fsynced; see
// createOwnedFile). On error the file is removed.
func createFile(fsys fileSystem, path string, data []byte, perm os.FileMode) error {
	return createOwnedFile(fsys, path, data, perm, noOwner)
}

// createOwnedFile is createFile with an owner set before any data is written.
func createOwnedFile(fsys fileSystem, path string, data []byte, perm os.FileMode, own owner) error {
	f, err := fsys.OpenFile(path, createFlags, perm)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		_ = f.Close()
		_ = fsys.Remove(path)
		return err
	}
	// The umask may have narrowed perm; set it exactly. This never widens the
	// mode beyond perm.
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if own != noOwner {
		if err := f.Chown(own.uid, own.gid); err != nil {
			return fail(err)
		}
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	// An empty file has no data to flush: the directory fsync that
	// follows every createFile makes its entry and inode durable. The
	// unfinished mark of every stored version is one.
	if len(data) > 0 {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		_ = fsys.Remove(path)
		return err
	}
	return nil
}

// linkBackup hard-links the current file at path to a hidden name, so it can
// be put back if the rename cannot be made durable. It returns "" when there
// is no file at path.
func linkBackup(fsys fileSystem, path string) (string, error) {
	for range 10 {
		backup := tempPath(filepath.Dir(path), filepath.Base(path), "bak")
		err := fsys.Link(path, backup)
		switch {
		case err == nil:
			return backup, nil
		case errors.Is(err, fs.ErrNotExist):
			return "", nil
		case !errors.Is(err, fs.ErrExist):
			return "", fmt.Errorf("keep the previous file: %w", err)
		}
	}
	return "", fmt.Errorf("keep the previous file %s: too many name collisions", path)
}

// restore undoes a rename whose directory fsync failed: the backup goes back
// to path, or path is removed if there was no previous file. Once the rename
// back has happened the old file is what readers see, so a second failing
// directory fsync is not reported.
func restore(fsys fileSystem, path, backup string) error {
	if backup == "" {
		return fsys.Remove(path)
	}
	if err := fsys.Rename(backup, path); err != nil {
		removeIf(fsys, backup)
		return err
	}
	_ = syncDir(fsys, filepath.Dir(path))
	return nil
}

// removeIf removes path, if there is one, ignoring errors: it only cleans up.
func removeIf(fsys fileSystem, path string) {
	if path != "" {
		_ = fsys.Remove(path)
	}
}

// pendingFile is one file of a writeFiles batch.
type pendingFile struct {
	path   string
	data   []byte
	tmp    string // the temporary file, once written
	backup string // the previous file's hidden hard link, "" for none
}

// tempWriters bounds the temporary files a batch writes at once: their
// fsyncs are the cost, and the filesystem journal commits concurrent ones
// together.
const tempWriters = 16

// writeFiles writes files, all in dir, each atomically as WriteFile does
// (temporary file, fsync, rename), and makes the renames durable with one
// fsync of dir. Paths must be distinct. On any error every path holds
// what it held before and no temporary file is left.
func writeFiles(fsys fileSystem, dir string, files []pendingFile, perm os.FileMode) error {
	if err := createTemps(fsys, dir, files, perm); err != nil {
		return err
	}
	renamed := 0
	fail := func(err error) error {
		for _, f := range files[renamed:] {
			_ = fsys.Remove(f.tmp)
		}
		var errs []error
		for i := renamed - 1; i >= 0; i-- {
			if rerr := restore(fsys, files[i].path, files[i].backup); rerr != nil {
				errs = append(errs, fmt.Errorf("restore %s: %w", files[i].path, rerr))
			}
		}
		return errors.Join(append([]error{err}, errs...)...)
	}
	for i := range files {
		backup, err := linkBackup(fsys, files[i].path)
		if err != nil {
			return fail(err)
		}
		files[i].backup = backup
		crashpoint.Hit("atomic-before-rename")
		if err := fsys.Rename(files[i].tmp, files[i].path); err != nil {
			removeIf(fsys, backup)
			return fail(err)
		}
		renamed++
	}
	if err := syncDir(fsys, dir); err != nil {
		return fail(err)
	}
	for _, f := range files {
		removeIf(fsys, f.backup)
	}
	return nil
}

// createTemps writes every file's data to a new temporary file in dir,
// tempWriters at a time. On error none is left.
func createTemps(fsys fileSystem, dir string, files []pendingFile, perm os.FileMode) error {
	errs := make([]error, len(files))
	sem := make(chan struct{}, tempWriters)
	var wg sync.WaitGroup
	for i := range files {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			files[i].tmp, errs[i] = createTemp(fsys, dir, filepath.Base(files[i].path), files[i].data, perm, noOwner)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, f := range files {
			removeIf(fsys, f.tmp)
		}
		return err
	}
	return nil
}
