package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenLayout(t *testing.T) {
	tests := []struct {
		desc  string
		setup func(t *testing.T, dir string) // dir does not exist yet
	}{
		{desc: "new directory with missing parents"},
		{
			desc: "existing 0755 storage and subdirectories are tightened",
			setup: func(t *testing.T, dir string) {
				for _, d := range []string{dir, filepath.Join(dir, "archive"), filepath.Join(dir, "accounts")} {
					if err := os.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.Chmod(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
			},
		},
		{
			desc: "storage reached through a symlink",
			setup: func(t *testing.T, dir string) {
				real := filepath.Join(filepath.Dir(dir), "real")
				if err := os.Mkdir(real, 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(real, dir); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "var", "lib", "renewd")
			if tt.setup != nil {
				if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
					t.Fatal(err)
				}
				tt.setup(t, dir)
			}
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if s.Dir() != dir {
				t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
			}
			if s.AccountsDir() != filepath.Join(dir, "accounts") {
				t.Errorf("AccountsDir() = %q", s.AccountsDir())
			}
			for _, d := range []string{dir, s.AccountsDir(), s.liveRoot(), s.archiveRoot()} {
				fi, err := os.Stat(d)
				if err != nil {
					t.Fatal(err)
				}
				if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
					t.Errorf("%s: mode %v, want a directory with 0700", d, fi.Mode())
				}
			}
			if left := leftovers(t, dir); len(left) > 0 {
				t.Errorf("probe left behind: %v", left)
			}
		})
	}
}

func TestOpenRefusesBadLayout(t *testing.T) {
	tests := []struct {
		desc  string
		setup func(t *testing.T, dir string) string // returns the path the error must name
	}{
		{
			desc: "storage is a file",
			setup: func(t *testing.T, dir string) string {
				if err := os.WriteFile(dir, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return dir
			},
		},
		{
			desc: "live is a symlink",
			setup: func(t *testing.T, dir string) string {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("/tmp", filepath.Join(dir, "live")); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(dir, "live")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "storage")
			want := tt.setup(t, dir)
			_, err := Open(dir)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
}

// makeReadOnly makes dir unwritable for this process: mode 0500 for a normal
// user, the immutable attribute (chattr +i) for root, whom modes do not stop.
// It reports false if neither is possible here.
func makeReadOnly(t *testing.T, dir string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		return true
	}
	const fsImmutableFL = 0x10 // FS_IMMUTABLE_FL from linux/fs.h
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsImmutableFL))
	}
	if err != nil {
		t.Logf("cannot set the immutable attribute on %s as root: %v", dir, err)
		return false
	}
	t.Cleanup(func() {
		f, err := os.Open(dir)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags&^fsImmutableFL)); err != nil {
			t.Errorf("clear the immutable attribute on %s: %v", dir, err)
		}
	})
	return true
}

// TestOpenReadOnly opens a storage directory the process cannot write. As
// root, where mode bits do not stop writes, the directory is made immutable;
// where that is not possible either, the failure is injected through the
// filesystem seam instead (logged, not skipped).
func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	fsys := fileSystem(osFS{})
	if !makeReadOnly(t, dir) {
		t.Log("injecting EROFS through the filesystem seam instead")
		fsys = &faultFS{fail: func(op, path string) error {
			if op == "open" || op == "mkdir" || op == "chmod" {
				return syscall.EROFS
			}
			return nil
		}}
	}
	_, err := open(dir, fsys, fixedClock(t0))
	if err == nil {
		t.Fatal("Open of a read-only directory succeeded")
	}
	for _, want := range []string{dir, "not writable", "storage:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("something was created: %v", entries)
	}
}

// TestOpenUnwritableInjected fails each step of the write probe, as a
// read-only mount or a full disk would.
func TestOpenUnwritableInjected(t *testing.T) {
	tests := []struct {
		desc  string
		op    string
		errno syscall.Errno
	}{
		{desc: "read-only mount", op: "open", errno: syscall.EROFS},
		{desc: "permission denied", op: "open", errno: syscall.EACCES},
		{desc: "disk full on write", op: "write", errno: syscall.ENOSPC},
		{desc: "I/O error on fsync", op: "sync", errno: syscall.EIO},
		{desc: "cannot remove the probe", op: "remove", errno: syscall.EPERM},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultFS{fail: func(op, path string) error {
				if op == tt.op && isTemp(path) {
					return tt.errno
				}
				return nil
			}}
			_, err := open(dir, ffs, fixedClock(t0))
			if !errors.Is(err, tt.errno) {
				t.Fatalf("open = %v, want %v", err, tt.errno)
			}
			for _, want := range []string{dir, "not writable"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			for _, sub := range []string{"live", "archive", "accounts"} {
				if _, err := os.Lstat(filepath.Join(dir, sub)); err == nil {
					t.Errorf("%s was created before the probe passed", sub)
				}
			}
		})
	}
}

func TestOpenEmptyDir(t *testing.T) {
	_, err := Open("")
	if err == nil || !strings.Contains(err.Error(), "storage:") {
		t.Fatalf("Open(\"\") = %v, want an error pointing at storage:", err)
	}
}
