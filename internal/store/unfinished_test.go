package store

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// killWhen returns a fail hook that acts as a kill at the first call
// matching: that call and every later one fail, cleanup included.
func killWhen(match func(op, path string) bool) func(op, path string) error {
	var mu sync.Mutex
	dead := false
	return func(op, path string) error {
		mu.Lock()
		defer mu.Unlock()
		if dead || match(op, path) {
			dead = true
			return syscall.EIO
		}
		return nil
	}
}

// newVersion runs save and returns the one version it added to
// archive/<name>, failing the test unless exactly one was added.
func newVersion(t *testing.T, s *Store, name string, save func()) string {
	t.Helper()
	before, _ := s.Versions(name)
	save()
	after, _ := s.Versions(name)
	var added []string
	for _, v := range after {
		if !slices.Contains(before, v) {
			added = append(added, v)
		}
	}
	if len(added) != 1 {
		t.Fatalf("versions %v -> %v; want one more", before, after)
	}
	return added[0]
}

// killBeforeLive stores files as a new version of name and "kills" the
// store when it starts to point live/<name> at it: the version is
// complete in archive/, and live/<name> is as it was.
func killBeforeLive(t *testing.T, s *Store, name string, files Files) string {
	t.Helper()
	fsys := s.fs
	defer func() { s.fs = fsys }()
	s.fs = &faultFS{fail: killWhen(func(op, path string) bool { return op == "symlink" })}
	return newVersion(t, s, name, func() {
		if _, err := s.SaveVersion(name, files); err == nil {
			t.Fatal("SaveVersion succeeded through a kill")
		}
	})
}

// marks lists the versions of name that carry the unfinished mark.
func marks(t *testing.T, s *Store, name string) []string {
	t.Helper()
	var out []string
	vs, _ := s.Versions(name)
	for _, v := range vs {
		if _, err := os.Lstat(filepath.Join(s.archiveRoot(), name, v, unfinishedMark)); err == nil {
			out = append(out, v)
		}
	}
	return out
}

func TestSaveVersionLeavesNoMark(t *testing.T) {
	s := openTest(t)
	ca := newTestCA(t)
	for i := range 3 {
		files, _ := ca.issue(t, int64(i+1), t0, "shop.example.com")
		mustSave(t, s, "shop", files)
	}
	if m := marks(t, s, "shop"); len(m) != 0 {
		t.Errorf("marked after a successful SaveVersion: %v", m)
	}
	if v, err := s.Unfinished("shop"); err != nil || v != "" {
		t.Errorf("Unfinished = %q, %v; want none", v, err)
	}
	if left := leftovers(t, s.Dir()); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestUnfinished: a version stored but never made live, however a kill
// left it, is named by Unfinished until MakeLive or DropUnfinished.
func TestUnfinished(t *testing.T) {
	ca := newTestCA(t)
	oldFiles, _ := ca.issue(t, 1, t0, "shop.example.com")
	newFiles, _ := ca.issue(t, 2, t1, "shop.example.com")
	ways := []struct {
		desc  string
		leave func(t *testing.T, s *Store) string
	}{
		{
			desc:  "killed creating the new live link",
			leave: func(t *testing.T, s *Store) string { return killBeforeLive(t, s, "shop", newFiles) },
		},
		{
			desc: "killed at the rename of the live link",
			leave: func(t *testing.T, s *Store) string {
				s.fs = &faultFS{fail: killWhen(func(op, path string) bool { return op == "rename" && path == s.LiveDir("shop") })}
				defer func() { s.fs = osFS{} }()
				return newVersion(t, s, "shop", func() { _, _ = s.SaveVersion("shop", newFiles) })
			},
		},
		{
			desc: "mark and link as a kill leaves them",
			leave: func(t *testing.T, s *Store) string {
				v := mustSave(t, s, "shop", newFiles)
				old, _ := s.Versions("shop")
				relink(t, s, "shop", "../archive/shop/"+old[0])
				writeRecordFile("")(t, filepath.Join(s.archiveRoot(), "shop", v, unfinishedMark))
				return v
			},
		},
	}
	actions := []struct {
		desc   string
		act    func(s *Store, v string) error
		live   func(oldV, newV string) string
		marked bool
	}{
		{desc: "named by Unfinished", act: func(*Store, string) error { return nil }, live: func(o, _ string) string { return o }, marked: true},
		{desc: "MakeLive clears it", act: func(s *Store, v string) error { return s.MakeLive("shop", v) }, live: func(_, n string) string { return n }},
		{desc: "DropUnfinished clears it", act: func(s *Store, v string) error { return s.DropUnfinished("shop", v) }, live: func(o, _ string) string { return o }},
	}
	for _, way := range ways {
		for _, a := range actions {
			t.Run(way.desc+"/"+a.desc, func(t *testing.T) {
				s := openTest(t)
				oldV := mustSave(t, s, "shop", oldFiles)
				s.now = fixedClock(t1)
				newV := way.leave(t, s)
				if v, _ := s.LiveVersion("shop"); v != oldV {
					t.Fatalf("live is %s after the kill, want %s", v, oldV)
				}
				if err := a.act(s, newV); err != nil {
					t.Fatal(err)
				}
				want := ""
				if a.marked {
					want = newV
				}
				if v, err := s.Unfinished("shop"); err != nil || v != want {
					t.Errorf("Unfinished = %q, %v; want %q", v, err, want)
				}
				if m := marks(t, s, "shop"); a.marked != (len(m) == 1) {
					t.Errorf("marked versions %v", m)
				}
				if v, err := s.LiveVersion("shop"); err != nil || v != a.live(oldV, newV) {
					t.Errorf("LiveVersion = %q, %v; want %s", v, err, a.live(oldV, newV))
				}
				// The files stay whatever was decided.
				if got, err := s.Version("shop", newV); err != nil || !bytes.Equal(got.Key, newFiles.Key) || !bytes.Equal(got.Fullchain, newFiles.Fullchain) {
					t.Errorf("Version(%s) = %v; want the stored files", newV, err)
				}
				if vs, _ := s.Versions("shop"); !slices.Equal(vs, []string{oldV, newV}) {
					t.Errorf("Versions = %v", vs)
				}
				checkModes(t, s.Dir())
			})
		}
	}
}

// TestUnfinishedNotOffered: versions that are not unfinished are never
// offered: one whose SaveVersion failed and cleaned up, and an older
// version an operator pointed live/<name> back to.
func TestUnfinishedNotOffered(t *testing.T) {
	ca := newTestCA(t)
	oldFiles, _ := ca.issue(t, 1, t0, "shop.example.com")
	newFiles, _ := ca.issue(t, 2, t1, "shop.example.com")
	tests := []struct {
		desc     string
		act      func(t *testing.T, s *Store, oldV string)
		versions int
		live     int // index in Versions
	}{
		{
			desc: "the live rename failed",
			act: func(t *testing.T, s *Store, _ string) {
				s.fs = &faultFS{fail: func(op, path string) error {
					if op == "rename" && path == s.LiveDir("shop") {
						return syscall.EIO
					}
					return nil
				}}
				if _, err := s.SaveVersion("shop", newFiles); !errors.Is(err, syscall.EIO) {
					t.Fatalf("SaveVersion = %v, want EIO", err)
				}
			},
			versions: 1,
		},
		{
			desc: "an operator's MakeLive back to the older version",
			act: func(t *testing.T, s *Store, oldV string) {
				mustSave(t, s, "shop", newFiles)
				if err := s.MakeLive("shop", oldV); err != nil {
					t.Fatal(err)
				}
			},
			versions: 2,
		},
		{
			desc: "an operator's ln -sfn back to the older version",
			act: func(t *testing.T, s *Store, oldV string) {
				mustSave(t, s, "shop", newFiles)
				relink(t, s, "shop", "../archive/shop/"+oldV)
			},
			versions: 2,
		},
		{
			desc: "MakeLive of the live version",
			act: func(t *testing.T, s *Store, oldV string) {
				if err := s.MakeLive("shop", oldV); err != nil {
					t.Fatal(err)
				}
			},
			versions: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := openTest(t)
			oldV := mustSave(t, s, "shop", oldFiles)
			s.now = fixedClock(t1)
			tt.act(t, s, oldV)
			s.fs = osFS{}
			if v, err := s.Unfinished("shop"); err != nil || v != "" {
				t.Errorf("Unfinished = %q, %v; want none", v, err)
			}
			if m := marks(t, s, "shop"); len(m) != 0 {
				t.Errorf("marked: %v", m)
			}
			vs, _ := s.Versions("shop")
			if len(vs) != tt.versions {
				t.Errorf("Versions = %v, want %d", vs, tt.versions)
			}
			if v, _ := s.LiveVersion("shop"); v != oldV {
				t.Errorf("live is %s, want %s", v, oldV)
			}
			if left := leftovers(t, s.Dir()); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestUnfinishedNewestFirst: with two unfinished versions, the newest is
// offered first, then the older once it is dropped.
func TestUnfinishedNewestFirst(t *testing.T) {
	s := openTest(t)
	ca := newTestCA(t)
	files, _ := ca.issue(t, 1, t0, "shop.example.com")
	mustSave(t, s, "shop", files)
	s.now = fixedClock(t1)
	first := killBeforeLive(t, s, "shop", files)
	second := killBeforeLive(t, s, "shop", files)
	for _, want := range []string{second, first, ""} {
		v, err := s.Unfinished("shop")
		if err != nil || v != want {
			t.Fatalf("Unfinished = %q, %v; want %q", v, err, want)
		}
		if v != "" {
			if err := s.DropUnfinished("shop", v); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestUnfinishedMarkNotCleared: clearing the mark once the version is
// live is best effort. When it fails, SaveVersion still succeeds, and
// Unfinished names the live version, which the caller recognises (not
// newer than live) and drops.
func TestUnfinishedMarkNotCleared(t *testing.T) {
	s := openTest(t)
	ca := newTestCA(t)
	files, _ := ca.issue(t, 1, t0, "shop.example.com")
	s.fs = &faultFS{fail: func(op, path string) error {
		if op == "remove" && filepath.Base(path) == unfinishedMark {
			return syscall.EIO
		}
		return nil
	}}
	v, err := s.SaveVersion("shop", files)
	if err != nil {
		t.Fatal(err)
	}
	s.fs = osFS{}
	if u, _ := s.Unfinished("shop"); u != v {
		t.Fatalf("Unfinished = %q, want the live %s", u, v)
	}
	if err := s.DropUnfinished("shop", v); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Unfinished("shop"); u != "" {
		t.Errorf("Unfinished after DropUnfinished = %q", u)
	}
}

func TestUnfinishedRejects(t *testing.T) {
	s := openTest(t)
	for _, tt := range []struct {
		desc string
		call func() error
		want string
	}{
		{"DropUnfinished of a bad name", func() error { return s.DropUnfinished("../x", "20261121T160000Z-001") }, `".."`},
		{"DropUnfinished of a bad version", func() error { return s.DropUnfinished("shop", "../../etc") }, "not a version name"},
		{"MakeLive of a bad version", func() error { return s.MakeLive("shop", "latest") }, "not a version name"},
		{"MakeLive of a missing version", func() error { return s.MakeLive("shop", "20261121T160000Z-001") }, "make shop live"},
		{"Unfinished of a bad name", func() error { _, err := s.Unfinished("a/b"); return err }, "certificate name"},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := os.Lstat(s.LiveDir("shop")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("live/shop was created: %v", err)
	}
}
