package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// unusableError says why a file renewd reads cannot be used, as opposed
// to an I/O failure: it is a symlink, not a regular file, or too big.
type unusableError struct{ why string }

func (e *unusableError) Error() string { return e.why }

// readBounded reads a file renewd owns (a record, state.json) without
// ever blocking or reading without bound: it does not follow a symlink,
// opens with O_NONBLOCK so a named pipe cannot hang it, refuses anything
// but a regular file, and refuses more than limit bytes. Such refusals are
// *unusableError; a missing file matches fs.ErrNotExist.
func readBounded(path string, limit int64) ([]byte, error) {
	data, _, err := readBoundedInfo(path, limit)
	return data, err
}

// readBoundedInfo is readBounded that also returns what fstat said of the
// file it read (for the memo: the identity of exactly what was read).
func readBoundedInfo(path string, limit int64) ([]byte, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, syscall.ELOOP):
		return nil, nil, &unusableError{"a symlink, not a file renewd wrote"}
	case err != nil:
		// open(2) of a socket fails with ENXIO, as does a device without a
		// driver: that is a file renewd cannot use, not a failing disk
		// that should stop every read.
		if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
			return nil, nil, &unusableError{"not a regular file (" + fileKind(fi.Mode()) + ")"}
		}
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, &unusableError{"not a regular file (" + fileKind(fi.Mode()) + ")"}
	}
	if fi.Size() > limit {
		return nil, nil, &unusableError{fmt.Sprintf("%d bytes, more than the %d renewd accepts", fi.Size(), limit)}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) > limit {
		return nil, nil, &unusableError{fmt.Sprintf("more than the %d bytes renewd accepts", limit)}
	}
	return data, fi, nil
}

// fileKind names a non-regular file's type for a person.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	}
	return "not a plain file"
}
