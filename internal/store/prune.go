package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// pruneMark starts the hidden name a version is renamed to before its
// files are removed: a kill halfway leaves a hidden directory, which no
// listing offers as a version, and the next Prune finishes it.
const pruneMark = ".pruned-"

// KeepVersions decides which versions of a certificate archive/ keeps:
// the live one, the deployed one (nginx may still read its files through
// a restore), every version newer than the live one (one stored and not
// yet made live, which the next run makes live instead of ordering
// again), and the keep newest. versions are oldest first, as Versions
// returns them; the result is the versions to remove, oldest first.
func KeepVersions(versions []string, live, deployed string, keep int) (remove []string) {
	keepSet := map[string]bool{live: true, deployed: true}
	for i, v := range versions {
		if i >= len(versions)-keep || (live != "" && v > live) {
			keepSet[v] = true
		}
	}
	for _, v := range versions {
		if !keepSet[v] {
			remove = append(remove, v)
		}
	}
	return remove
}

// Prune removes the versions of name in archive/ that KeepVersions does
// not keep, given the version last deployed ("" for none), and what an
// earlier Prune left halfway. A version is renamed to a hidden name before
// its files are removed, so none is ever half there under its own name.
// It returns the versions removed. Without a live version nothing is
// removed.
func (s *Store) Prune(name string, keep int, deployed string) ([]string, error) {
	if s.readOnly {
		return nil, fmt.Errorf("prune %s: %w", name, ErrReadOnly)
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	live, err := s.LiveVersion(name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("prune %s: %w", name, err)
	}
	versions, err := s.Versions(name)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.archiveRoot(), name)
	var removed []string
	var errs []error
	for _, v := range KeepVersions(versions, live, deployed, keep) {
		hidden := filepath.Join(dir, pruneMark+v)
		if err := s.fs.Rename(filepath.Join(dir, v), hidden); err != nil {
			errs = append(errs, fmt.Errorf("prune %s/%s: %w", name, v, err))
			continue
		}
		removed = append(removed, v)
	}
	if len(removed) > 0 {
		if err := syncDir(s.fs, dir); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.removePruned(dir))
	return removed, errors.Join(errs...)
}

// removePruned removes the hidden directories of pruned versions in dir.
func (s *Store) removePruned(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), pruneMark) {
			errs = append(errs, removeDir(s.fs, filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// Purge removes everything renewd stores of name: live/<name> and
// archive/<name>/, for `renewd remove --purge`. The record is DeleteRecord's.
func (s *Store) Purge(name string) error {
	if s.readOnly {
		return fmt.Errorf("purge %s: %w", name, ErrReadOnly)
	}
	if err := ValidName(name); err != nil {
		return err
	}
	if err := s.fs.Remove(s.LiveDir(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("purge %s: %w", name, err)
	}
	if err := syncDir(s.fs, s.liveRoot()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Join(s.archiveRoot(), name)
	versions, err := s.Versions(name)
	if err != nil {
		return err
	}
	// Hidden ones too: versions being written or pruned.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(versions, e.Name()) {
			versions = append(versions, e.Name())
		}
	}
	var errs []error
	for _, v := range versions {
		errs = append(errs, removeDir(s.fs, filepath.Join(dir, v)))
	}
	if err := s.fs.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
