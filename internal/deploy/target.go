package deploy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/renewd/renewd/internal/config"
)

// Deploy targets are paths a person named in the configuration, in
// directories other programs (and people) write to as well. renewd never
// follows a symlink there that it did not make, never opens anything but a
// regular file, and never reads more than maxTargetSize of one: a FIFO
// would block it forever (holding the renewal lock), /dev/zero would feed
// it without end, and a link to another file would have that file copied
// over on a rollback. See docs/deploy.md, "Paths renewd refuses".

// maxTargetSize bounds what renewd reads of a file at a deploy path: far
// more than any certificate chain, key or keystore.
const maxTargetSize = 1 << 20

// targetKind is what a deploy path holds.
type targetKind int

const (
	targetAbsent targetKind = iota
	targetLink              // renewd's own link into a pair directory
	targetFile              // a regular file (installed by hand, or by an older renewd)
)

// inspect says what path holds, without following a symlink, and for
// renewd's own link where it points. field names the setting for messages
// (deploy.key). A symlink is renewd's own when ours reports so for its
// target (nil: no link is); anything that is not absent, a regular file or
// renewd's link is refused with an error naming path and what to do.
func inspect(path, field string, ours func(target string) bool) (targetKind, string, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return targetAbsent, "", nil
	case err != nil:
		return 0, "", fmt.Errorf("%s %s: %w", field, quoteName(path), err)
	case fi.Mode().IsRegular():
		return targetFile, "", nil
	case fi.Mode()&fs.ModeSymlink != 0:
		to, err := os.Readlink(path)
		if err != nil {
			return 0, "", fmt.Errorf("%s %s: %w", field, quoteName(path), err)
		}
		if ours != nil && ours(to) {
			return targetLink, to, nil
		}
		return 0, "", &refusedError{field: field, path: path, what: fmt.Sprintf("a symbolic link to %s", quoteName(to)),
			hint: "renewd does not write through or restore links it did not make; remove the link and renewd installs the files there"}
	}
	return 0, "", &refusedError{field: field, path: path, what: kindOf(fi.Mode()), hint: "remove it; renewd installs regular files there"}
}

// refusedError is a deploy path renewd will not touch.
type refusedError struct {
	field, path, what, hint string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s %s is %s, not a regular file: %s", e.field, quoteName(e.path), e.what, e.hint)
}

// kindOf names a file type that is neither regular nor a symlink.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

// readRegular reads the regular file at path without following a symlink,
// without blocking on a FIFO swapped in since it was inspected, and at
// most maxTargetSize bytes of it. It returns the file's mode and owner.
func readRegular(path, field string) ([]byte, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, nil, &refusedError{field: field, path: path, what: "a symbolic link", hint: "remove the link and renewd installs the files there"}
		}
		return nil, nil, fmt.Errorf("read the current %s: %w", quoteName(path), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read the current %s: %w", quoteName(path), err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, &refusedError{field: field, path: path, what: kindOf(fi.Mode()), hint: "remove it; renewd installs regular files there"}
	}
	if fi.Size() > maxTargetSize {
		return nil, nil, fmt.Errorf("%s %s holds %d bytes, more than any certificate, key or keystore (at most %d): is it the right file?", field, quoteName(path), fi.Size(), maxTargetSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTargetSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read the current %s: %w", quoteName(path), err)
	}
	if len(data) > maxTargetSize {
		return nil, nil, fmt.Errorf("%s %s grew beyond %d bytes while renewd read it", field, quoteName(path), maxTargetSize)
	}
	return data, fi, nil
}

// quoteName renders a path for a message, quoted when it holds a newline
// or another control character (config.QuotePath).
func quoteName(p string) string { return config.QuotePath(p) }
