package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// isTemp matches a call on a temporary file (not the target or directory).
func isTemp(path string) bool { return isTempName(filepath.Base(path)) }

// The steps of WriteFile, each selected by what the call looks like.
var writeSteps = []struct {
	desc  string
	match func(op, path, dir string) bool
}{
	{"create temp", func(op, p, dir string) bool { return op == "open" && isTemp(p) }},
	{"fchmod temp", func(op, p, dir string) bool { return op == "fchmod" }},
	{"write", func(op, p, dir string) bool { return op == "write" }},
	{"fsync temp", func(op, p, dir string) bool { return op == "sync" && p != dir }},
	{"close temp", func(op, p, dir string) bool { return op == "close" && p != dir }},
	{"link backup", func(op, p, dir string) bool { return op == "link" }},
	{"rename", func(op, p, dir string) bool { return op == "rename" }},
	{"open dir", func(op, p, dir string) bool { return op == "open" && p == dir }},
	{"fsync dir", func(op, p, dir string) bool { return op == "sync" && p == dir }},
}

func TestWriteFileFaults(t *testing.T) {
	for _, step := range writeSteps {
		for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
			for _, old := range []bool{true, false} {
				desc := step.desc + "/" + errno.Error()
				if !old {
					desc += "/no previous file"
				}
				t.Run(desc, func(t *testing.T) {
					dir := t.TempDir()
					if err := os.Chmod(dir, 0o700); err != nil {
						t.Fatal(err)
					}
					path := filepath.Join(dir, "privkey.pem")
					if old {
						if err := os.WriteFile(path, []byte("old key"), 0o600); err != nil {
							t.Fatal(err)
						}
					}
					ffs := &faultFS{
						fail: func(op, p string) error {
							if step.match(op, p, dir) {
								return errno
							}
							return nil
						},
						check: func(op, p string) { checkModes(t, dir) },
					}
					err := writeFile(ffs, path, []byte("new key, longer than the old one"), 0o600, noOwner)
					if !errors.Is(err, errno) {
						t.Fatalf("writeFile = %v, want %v", err, errno)
					}
					if old {
						if got := mustRead(t, path); string(got) != "old key" {
							t.Errorf("file holds %q, want the old content", got)
						}
						if p := perm(t, path); p != 0o600 {
							t.Errorf("mode %#o, want 0600", p)
						}
					} else if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("file exists after a failed first write: %v", err)
					}
					if left := leftovers(t, dir); len(left) > 0 {
						t.Errorf("left behind: %v", left)
					}
				})
			}
		}
	}
}

// TestWriteFileEveryStep fails each call of a clean run in turn, so a step
// added later cannot escape the table above.
func TestWriteFileEveryStep(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	rec := &faultFS{}
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(rec, path, []byte("new"), 0o600, noOwner); err != nil {
		t.Fatal(err)
	}
	for i, o := range rec.ops {
		if o.op == "remove" {
			continue // cleanup of the backup: best effort, not a failure
		}
		t.Run(describe(dir, o), func(t *testing.T) {
			if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := writeFile(&faultFS{fail: failAt(i, syscall.EIO)}, path, []byte("new"), 0o600, noOwner)
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("writeFile = %v, want EIO", err)
			}
			if got := mustRead(t, path); string(got) != "old" {
				t.Errorf("file holds %q, want old", got)
			}
			if left := leftovers(t, dir); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		desc  string
		setup func(t *testing.T, path string)
		perm  os.FileMode
	}{
		{desc: "new key", perm: 0o600},
		{desc: "new certificate", perm: 0o644},
		{
			desc: "replace a file that was too open",
			setup: func(t *testing.T, path string) {
				if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, 0o666); err != nil {
					t.Fatal(err)
				}
			},
			perm: 0o600,
		},
		{
			desc: "replace a symlink instead of following it",
			setup: func(t *testing.T, path string) {
				victim := filepath.Join(filepath.Dir(path), "victim")
				if err := os.WriteFile(victim, []byte("victim"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("victim", path); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if got := mustRead(t, victim); string(got) != "victim" {
						t.Errorf("symlink target was written: %q", got)
					}
				})
			},
			perm: 0o600,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file.pem")
			if tt.setup != nil {
				tt.setup(t, path)
			}
			data := bytes.Repeat([]byte("x"), 10000)
			if err := WriteFile(path, data, tt.perm); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.Mode().IsRegular() || fi.Mode().Perm() != tt.perm {
				t.Errorf("mode %v, want a regular file with %#o", fi.Mode(), tt.perm)
			}
			if got := mustRead(t, path); !bytes.Equal(got, data) {
				t.Errorf("content differs")
			}
			if left := leftovers(t, dir); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestWriteFileUmask shows the mode is exactly perm whatever the umask: a
// strict umask does not make certificates unreadable to nginx, and a loose
// one never widens a key.
func TestWriteFileUmask(t *testing.T) {
	tests := []struct {
		desc  string
		umask int
		perm  os.FileMode
	}{
		{desc: "strict umask, certificate", umask: 0o077, perm: 0o644},
		{desc: "no umask, key", umask: 0, perm: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			old := unix.Umask(tt.umask)
			defer unix.Umask(old)
			path := filepath.Join(t.TempDir(), "f")
			if err := WriteFile(path, []byte("x"), tt.perm); err != nil {
				t.Fatal(err)
			}
			if p := perm(t, path); p != tt.perm {
				t.Errorf("mode %#o, want %#o", p, tt.perm)
			}
		})
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "state.json")
	err := WriteFile(path, []byte("x"), 0o600)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteFile = %v, want ErrNotExist", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Errorf("error %q does not name %s", err, path)
	}
}
