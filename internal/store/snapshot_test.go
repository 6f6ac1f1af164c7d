package store

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// entry is what a listing knows of one path: everything a reader could
// change by mistake.
type entry struct {
	mode   fs.FileMode
	size   int64
	mtime  int64 // nanoseconds
	ino    uint64
	sha256 string // regular files up to hashLimit
	target string // symlinks
}

// hashLimit bounds what snapshot reads of a file: a sparse terabyte is
// listed, not read.
const hashLimit = 16 << 20

// snapshot lists root and everything under it, by path relative to root,
// without following symlinks or opening anything but regular files.
func snapshot(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.ino = st.Ino
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.target, err = os.Readlink(path); err != nil {
				return err
			}
		case fi.Mode().IsRegular() && fi.Size() <= hashLimit:
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			e.sha256 = hex.EncodeToString(h.Sum(nil))
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", root, err)
	}
	return out
}

// diffSnapshots reports every path added, removed or changed.
func diffSnapshots(t *testing.T, before, after map[string]entry) {
	t.Helper()
	var paths []string
	for p := range before {
		paths = append(paths, p)
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		b, inB := before[p]
		a, inA := after[p]
		switch {
		case !inA:
			t.Errorf("%s was removed", p)
		case !inB:
			t.Errorf("%s was created (%v)", p, a.mode)
		case a != b:
			t.Errorf("%s changed:\n before %+v\n after  %+v", p, b, a)
		}
	}
}

func mkfifo(path string) error { return unix.Mkfifo(path, 0o600) }

// mkzero makes a character device like /dev/zero, which never ends.
func mkzero(path string) error {
	return unix.Mknod(path, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 5)))
}

// mksocket leaves a Unix socket at path, as a crashed server would; open(2)
// of it fails with ENXIO.
func mksocket(t *testing.T, path string) error {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Bind(fd, &unix.SockaddrUnix{Name: path})
}
