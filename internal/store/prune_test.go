package store

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestKeepVersions(t *testing.T) {
	v := func(n ...string) []string {
		var out []string
		for _, s := range n {
			out = append(out, "20261121T1600"+s+"Z-001")
		}
		return out
	}
	all := v("01", "02", "03", "04", "05", "06", "07", "08")
	tests := []struct {
		desc           string
		versions       []string
		live, deployed string
		keep           int
		remove         []string
	}{
		{desc: "the live one is the newest: keep it and the 5 newest", versions: all, live: all[7], deployed: all[7], keep: 5,
			remove: v("01", "02", "03")},
		{desc: "fewer versions than keep: nothing goes", versions: all[:4], live: all[3], deployed: all[3], keep: 5},
		{desc: "an old deployed version is never removed (nginx may read it)", versions: all, live: all[7], deployed: all[0], keep: 2,
			remove: v("02", "03", "04", "05", "06")},
		{desc: "an operator pointed live back at an old version: it stays", versions: all, live: all[1], deployed: all[1], keep: 2,
			remove: v("01")},
		{desc: "versions newer than live are a stored one not yet live: kept", versions: all, live: all[5], deployed: all[5], keep: 0,
			remove: v("01", "02", "03", "04", "05")},
		{desc: "keep 0: only live and deployed", versions: all, live: all[7], deployed: all[6], keep: 0,
			remove: v("01", "02", "03", "04", "05", "06")},
		{desc: "never deployed (no deploy block)", versions: all, live: all[7], keep: 1,
			remove: v("01", "02", "03", "04", "05", "06", "07")},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := KeepVersions(tt.versions, tt.live, tt.deployed, tt.keep)
			if !slices.Equal(got, tt.remove) {
				t.Errorf("remove %v, want %v", got, tt.remove)
			}
			for _, must := range []string{tt.live, tt.deployed} {
				if must != "" && slices.Contains(got, must) {
					t.Errorf("removes %s", must)
				}
			}
		})
	}
}

// TestPrune: on disk, the versions KeepVersions drops are gone, the live
// one still reads, and a prune a kill interrupted is finished next time.
func TestPrune(t *testing.T) {
	s := openTest(t)
	ca := newTestCA(t)
	var made []string
	for i := range 7 {
		f, _ := ca.issue(t, int64(i+1), t0, "shop.example.com")
		made = append(made, mustSave(t, s, "shop", f))
	}
	deployed := made[1]
	removed, err := s.Prune("shop", 2, deployed)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{made[0], made[2], made[3], made[4]}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	left, _ := s.Versions("shop")
	if want := []string{made[1], made[5], made[6]}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if _, v, err := s.Live("shop"); err != nil || v != made[6] {
		t.Errorf("live %s, %v; want %s", v, err, made[6])
	}
	if ls := leftovers(t, s.Dir()); len(ls) > 0 {
		t.Errorf("left behind: %v", ls)
	}

	// A kill between the rename and the removal leaves a hidden directory:
	// never listed, removed by the next prune.
	half := filepath.Join(s.Dir(), "archive", "shop", pruneMark+"20261101T000000Z-001")
	if err := os.Mkdir(half, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, "privkey.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Versions("shop"); slices.Contains(v, filepath.Base(half)) {
		t.Error("a half-pruned version is listed")
	}
	if _, err := s.Prune("shop", 2, deployed); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("half-pruned version still there: %v", err)
	}
}

// TestPruneFaults: a rename that fails leaves that version whole and in
// the list; Prune says so.
func TestPruneFaults(t *testing.T) {
	ffs := &faultFS{}
	s, err := open(t.TempDir(), ffs, fixedClock(t0))
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	var made []string
	for i := range 3 {
		f, _ := ca.issue(t, int64(i+1), t0, "shop.example.com")
		made = append(made, mustSave(t, s, "shop", f))
	}
	ffs.mu.Lock()
	ffs.fail = func(op, path string) error {
		if op == "rename" && strings.Contains(path, pruneMark) {
			return syscall.EIO
		}
		return nil
	}
	ffs.mu.Unlock()
	removed, err := s.Prune("shop", 0, "")
	if err == nil || len(removed) != 0 {
		t.Fatalf("removed %v, err %v; want nothing removed and an error", removed, err)
	}
	if v, _ := s.Versions("shop"); !slices.Equal(v, made) {
		t.Errorf("versions %v, want all of %v", v, made)
	}
	if _, err := s.Version("shop", made[0]); err != nil {
		t.Errorf("a version whose prune failed does not read: %v", err)
	}
}

func TestPruneReadOnlyAndMissing(t *testing.T) {
	s := openTest(t)
	if removed, err := s.Prune("shop", 5, ""); err != nil || removed != nil {
		t.Errorf("no live version: removed %v, err %v", removed, err)
	}
	ro, err := OpenReadOnly(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Prune("shop", 5, ""); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only prune: %v", err)
	}
	if _, err := s.Prune("../x", 5, ""); err == nil {
		t.Error("a hostile name was pruned")
	}
}

func TestPurge(t *testing.T) {
	s := openTest(t)
	ca := newTestCA(t)
	f, _ := ca.issue(t, 1, t0, "shop.example.com")
	mustSave(t, s, "shop", f)
	f2, _ := ca.issue(t, 2, t0, "blog.example.com")
	mustSave(t, s, "blog", f2)
	if err := s.Purge("shop"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"live/shop", "archive/shop"} {
		if _, err := os.Lstat(filepath.Join(s.Dir(), p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	if _, _, err := s.Live("blog"); err != nil {
		t.Errorf("another certificate was touched: %v", err)
	}
}
