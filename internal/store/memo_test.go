package store

import (
	"os"
	"testing"
	"time"
)

// settle makes the memo see every file as changed an hour ago, as the
// daemon's next tick does; without it a file written by the test is too
// fresh to be remembered (racyWindow).
func settle(s *Store) { s.memo.now = func() time.Time { return time.Now().Add(time.Hour) } }

func readShop(t *testing.T, s *Store) *Record {
	t.Helper()
	recs, repairs, err := s.Records()
	if err != nil || len(repairs) != 0 {
		t.Fatalf("Records: %v, repairs %v", err, repairs)
	}
	return recs["shop"]
}

// TestMemoRemembersUnchangedRecords: a record file unchanged since the
// last pass is not read again, and what is handed out is a copy.
func TestMemoRemembersUnchangedRecords(t *testing.T) {
	s := openTest(t)
	settle(s)
	if err := s.SaveRecord(&Record{Name: "shop", RetryCount: 1}); err != nil {
		t.Fatal(err)
	}
	first := readShop(t, s)
	first.RetryCount = 99 // the caller's copy; the memory must not see it
	second := readShop(t, s)
	if got := s.memo.hits.Load(); got != 1 {
		t.Errorf("memo answered %d times, want 1 (the second read)", got)
	}
	if second.RetryCount != 1 {
		t.Errorf("retry_count %d from memory, want 1: a caller's change reached the memo", second.RetryCount)
	}
}

// TestMemoSeesChanges: every way the file can change makes the next read
// go to the disk: renewd's own save, another process's rename, an edit in
// place, a removal, a corruption.
func TestMemoSeesChanges(t *testing.T) {
	s := openTest(t)
	settle(s)
	path := s.recordPath("shop")
	save := func(n int) {
		if err := s.SaveRecord(&Record{Name: "shop", RetryCount: n}); err != nil {
			t.Fatal(err)
		}
	}
	save(1)
	readShop(t, s)

	save(2) // renewd's own save: a new file renamed over the old one
	if got := readShop(t, s).RetryCount; got != 2 {
		t.Fatalf("after a save: retry_count %d, want 2", got)
	}

	// An edit in place (same inode), of another size.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := []byte(string(data[:len(data)-2]) + ",\n  \"last_error\": \"edited by hand\"\n}\n")
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readShop(t, s).LastError; got != "edited by hand" {
		t.Fatalf("after an edit in place: last_error %q", got)
	}

	// Corrupted: the repair runs as without the memo.
	readShop(t, s)
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, repairs, err := s.Records()
	if err != nil || len(repairs) != 1 {
		t.Fatalf("after corrupting the file: %v, repairs %v; want one repair", err, repairs)
	}

	// Removed by `renewd remove`.
	save(3)
	readShop(t, s)
	if err := s.DeleteRecord("shop"); err != nil {
		t.Fatal(err)
	}
	if recs, _, _ := s.Records(); recs["shop"] != nil {
		t.Error("a deleted record is still read")
	}
}

// TestMemoTrustsNoFreshFile: a file changed within racyWindow is read from
// disk every time, as a second change in the same tick of the file clock
// would not show in its times.
func TestMemoTrustsNoFreshFile(t *testing.T) {
	s := openTest(t) // the real clock: the file was just written
	if err := s.SaveRecord(&Record{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	readShop(t, s)
	readShop(t, s)
	if got := s.memo.hits.Load(); got != 0 {
		t.Errorf("memo answered %d times for a file changed just now, want 0", got)
	}
}

// TestMemoNothingReadOnly: status and check remember nothing.
func TestMemoNothingReadOnly(t *testing.T) {
	s := openTest(t)
	if err := s.SaveRecord(&Record{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if ro.memo != nil {
		t.Fatal("a read-only store has a memo")
	}
	readShop(t, ro)
}

// TestMemoSeesANewUnfinishedVersion: "no unfinished version" is
// remembered for archive/<name>, and a version stored after (here one a
// kill left unfinished) is found at the next look.
func TestMemoSeesANewUnfinishedVersion(t *testing.T) {
	ca := newTestCA(t)
	oldFiles, _ := ca.issue(t, 1, t0, "shop.example.com")
	newFiles, _ := ca.issue(t, 2, t1, "shop.example.com")
	s := openTest(t)
	settle(s)
	mustSave(t, s, "shop", oldFiles)
	for range 2 {
		if v, err := s.Unfinished("shop"); err != nil || v != "" {
			t.Fatalf("Unfinished = %q, %v; want none", v, err)
		}
	}
	if got := s.memo.hits.Load(); got != 1 {
		t.Fatalf("memo answered %d times, want 1", got)
	}
	want := killBeforeLive(t, s, "shop", newFiles)
	if v, err := s.Unfinished("shop"); err != nil || v != want {
		t.Fatalf("Unfinished = %q, %v after a kill; want %q", v, err, want)
	}
	if v, err := s.Unfinished("nothing-stored"); err != nil || v != "" {
		t.Fatalf("Unfinished of a name never stored = %q, %v", v, err)
	}
}

// TestLiveVersions: every live version at once, as LiveVersion gives them
// one by one; remembered while live/ is unchanged; a new version, a link
// removed or an entry LiveVersion cannot read is seen at the next look.
func TestLiveVersions(t *testing.T) {
	ca := newTestCA(t)
	shop, _ := ca.issue(t, 1, t0, "shop.example.com")
	blog, _ := ca.issue(t, 2, t0, "blog.example.com")
	shop2, _ := ca.issue(t, 3, t1, "shop.example.com")
	s := openTest(t)
	settle(s)
	look := func() map[string]string {
		t.Helper()
		got, ok := s.LiveVersions()
		if !ok {
			t.Fatal("LiveVersions not ok")
		}
		for name, v := range got {
			if one, err := s.LiveVersion(name); err != nil || one != v {
				t.Fatalf("LiveVersions says %s is %q; LiveVersion says %q, %v", name, v, one, err)
			}
		}
		return got
	}
	if got := look(); len(got) != 0 {
		t.Fatalf("an empty store has live versions %v", got)
	}
	v1 := mustSave(t, s, "shop", shop)
	mustSave(t, s, "blog", blog)
	if got := look(); len(got) != 2 || got["shop"] != v1 {
		t.Fatalf("LiveVersions = %v, want shop at %s and blog", got, v1)
	}
	hits := s.memo.hits.Load()
	look()
	if s.memo.hits.Load() != hits+1 {
		t.Error("an unchanged live/ was read again")
	}
	v2 := mustSave(t, s, "shop", shop2)
	if got := look(); got["shop"] != v2 {
		t.Fatalf("after a new version: shop at %q, want %s", got["shop"], v2)
	}
	if err := os.Remove(s.LiveDir("blog")); err != nil {
		t.Fatal(err)
	}
	if got := look(); len(got) != 1 {
		t.Fatalf("after removing live/blog: %v", got)
	}
	if err := os.Mkdir(s.LiveDir("odd"), 0o700); err != nil { // not a link
		t.Fatal(err)
	}
	if got, ok := s.LiveVersions(); ok {
		t.Fatalf("LiveVersions = %v, ok with a directory in live/; want not ok, so each is asked", got)
	}
}
