package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// realisticStorage builds a storage directory as renewd leaves it after
// some weeks: two versions of shop, blog, an api whose newer version a
// kill left unfinished and whose record is corrupt, records for the
// others, an account, both lock files, and modes a person loosened
// (storage 0750, archive/ 0755). It returns the store and its versions.
func realisticStorage(t *testing.T) (*Store, map[string][]string) {
	t.Helper()
	s := openTest(t)
	ca := newTestCA(t)
	versions := map[string][]string{}
	for i, name := range []string{"shop", "blog", "api"} {
		files, _ := ca.issue(t, int64(10+i), t0, name+".example.com")
		versions[name] = append(versions[name], mustSave(t, s, name, files))
	}
	s.now = fixedClock(t1)
	files, _ := ca.issue(t, 20, t1, "shop.example.com")
	versions["shop"] = append(versions["shop"], mustSave(t, s, "shop", files))
	files, _ = ca.issue(t, 21, t1, "api.example.com")
	versions["api"] = append(versions["api"], killBeforeLive(t, s, "api", files))

	if err := s.SaveRecords([]*Record{messyRecord("shop"), messyRecord("blog")}); err != nil {
		t.Fatal(err)
	}
	writeRecordFile(`{"schema": 1, "name": "api", "dom`)(t, s.recordPath("api"))
	account := filepath.Join(s.AccountsDir(), "acme-v02.api.letsencrypt.org-0123456789ab")
	if err := os.Mkdir(account, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(account, "account.json"), []byte(`{"uri": "https://ca.example/acct/1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, lock := range []func() (*Lock, error){s.TryLock, s.TryDaemonLock} {
		l, err := lock()
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(s.Dir(), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.archiveRoot(), 0o755); err != nil {
		t.Fatal(err)
	}
	return s, versions
}

// TestReadOnlyChangesNothing runs every reading method of a read-only
// store, and every writing one (each must fail with ErrReadOnly), and
// compares a full listing of the storage directory before and after:
// paths, modes, sizes, mtimes, contents and link targets.
func TestReadOnlyChangesNothing(t *testing.T) {
	tests := []struct {
		desc   string
		legacy bool // the first release's state.json, not yet migrated
	}{
		{desc: "records in state/"},
		{desc: "unmigrated state.json", legacy: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			w, versions := realisticStorage(t)
			dir := w.Dir()
			if tt.legacy {
				if err := os.RemoveAll(w.stateRoot()); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(w.legacyPath(), mustRead(t, stateV1), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, dir)

			s, err := OpenReadOnly(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !s.ReadOnly() || s.Dir() != dir || len(s.Notes()) != 0 {
				t.Errorf("ReadOnly %v, Dir %q, Notes %q", s.ReadOnly(), s.Dir(), s.Notes())
			}
			readEverything(t, s, versions)
			checkReadOnlyAnswers(t, s, versions, tt.legacy)
			writeEverything(t, s, versions)

			diffSnapshots(t, before, snapshot(t, dir))
		})
	}
}

// readEverything calls every reading method for every certificate, known
// or not, and every version.
func readEverything(t *testing.T, s *Store, versions map[string][]string) {
	t.Helper()
	if _, _, err := s.Records(); err != nil {
		t.Errorf("Records: %v", err)
	}
	for _, name := range []string{"shop", "blog", "api", "nosuch", "../x"} {
		_, _ = s.Record(name)
		_, _, _ = s.Live(name)
		_, _ = s.LiveVersion(name)
		_, _ = s.Versions(name)
		_, _ = s.Unfinished(name)
		_ = s.LiveDir(name)
		for _, v := range versions[name] {
			if _, err := s.Version(name, v); err != nil {
				t.Errorf("Version(%s, %s): %v", name, v, err)
			}
		}
	}
}

// checkReadOnlyAnswers checks what a read-only store says of the
// realistic storage.
func checkReadOnlyAnswers(t *testing.T, s *Store, versions map[string][]string, legacy bool) {
	t.Helper()
	recs, repairs, err := s.Records()
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range repairs {
		if rp.MovedTo != "" {
			t.Errorf("a read-only store moved %s to %s", rp.Name, rp.MovedTo)
		}
	}
	if !legacy {
		if len(repairs) != 1 || repairs[0].Name != "api" || !repairs[0].Rebuilt {
			t.Errorf("repairs = %+v, want api rebuilt in memory", repairs)
		}
		if r := recs["shop"]; r == nil || r.RetryCount != 3 {
			t.Errorf("shop = %+v, want its record", r)
		}
	} else if r := recs["blog"]; r == nil || r.Serial != "ff00a1" {
		t.Errorf("blog = %+v, want the record of state.json", r)
	}
	if v, err := s.Unfinished("api"); err != nil || v != versions["api"][1] {
		t.Errorf("Unfinished(api) = %q, %v; want %s", v, err, versions["api"][1])
	}
	if v, err := s.LiveVersion("shop"); err != nil || v != versions["shop"][1] {
		t.Errorf("LiveVersion(shop) = %q, %v", v, err)
	}
	if vs, err := s.Versions("shop"); err != nil || !slices.Equal(vs, versions["shop"]) {
		t.Errorf("Versions(shop) = %v, %v", vs, err)
	}
	if _, v, err := s.Live("api"); err != nil || v != versions["api"][0] {
		t.Errorf("Live(api) = %q, %v; want the old version", v, err)
	}
}

// writeEverything calls every method that would change the disk; each
// must fail with ErrReadOnly.
func writeEverything(t *testing.T, s *Store, versions map[string][]string) {
	t.Helper()
	ca := newTestCA(t)
	files, _ := ca.issue(t, 99, t1, "shop.example.com")
	old := versions["shop"][0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	calls := map[string]func() error{
		"SaveRecord":     func() error { return s.SaveRecord(&Record{Name: "shop"}) },
		"SaveRecords":    func() error { return s.SaveRecords([]*Record{{Name: "new"}}) },
		"DeleteRecord":   func() error { return s.DeleteRecord("shop") },
		"SaveVersion":    func() error { _, err := s.SaveVersion("shop", files); return err },
		"MakeLive":       func() error { return s.MakeLive("shop", old) },
		"DropUnfinished": func() error { return s.DropUnfinished("api", versions["api"][1]) },
		"Probe":          func() error { return s.Probe("shop") },
		"LockWait":       func() error { _, _, err := s.LockWait(ctx, time.Second, nil); return err },
		"TryLock":        func() error { _, err := s.TryLock(); return err },
		"Lock":           func() error { _, err := s.Lock(ctx); return err },
		"TryDaemonLock":  func() error { _, err := s.TryDaemonLock(); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only store = %v, want ErrReadOnly", name, err)
		}
	}
}

// TestReadOnlyMissingDir: a storage directory that does not exist yet is
// an empty store, and reading it does not create it.
func TestReadOnlyMissingDir(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "var", "lib", "renewd")
	before := snapshot(t, parent)
	s, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs, repairs, err := s.Records()
	if err != nil || len(recs) != 0 || len(repairs) != 0 {
		t.Errorf("Records = %v, %v, %v; want an empty store", recs, repairs, err)
	}
	if _, err := s.Record("shop"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Record = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Live("shop"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Live = %v, want ErrNotFound", err)
	}
	if _, err := s.LiveVersion("shop"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LiveVersion = %v, want ErrNotFound", err)
	}
	if vs, err := s.Versions("shop"); err != nil || len(vs) != 0 {
		t.Errorf("Versions = %v, %v", vs, err)
	}
	if v, err := s.Unfinished("shop"); err != nil || v != "" {
		t.Errorf("Unfinished = %q, %v", v, err)
	}
	writeEverything(t, s, map[string][]string{"shop": {"20261121T160000Z-001"}, "api": {"", "20261121T160000Z-002"}})
	diffSnapshots(t, before, snapshot(t, parent))
}

func TestOpenReadOnlyRefuses(t *testing.T) {
	file := filepath.Join(t.TempDir(), "storage")
	writeRecordFile("")(t, file)
	for _, dir := range []string{"", file} {
		if _, err := OpenReadOnly(dir); err == nil {
			t.Errorf("OpenReadOnly(%q) succeeded", dir)
		}
	}
}
