package store

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The contract tests run the same scenarios against *Store and *Memory
// wherever the two promise the same behaviour, so that the in-memory fake
// the renewal pipeline is tested with cannot drift from the store it
// stands for. Behaviour only one of them has (files, modes, faults,
// migration) is tested in the other files.

// contractStore is what both implement: renew.Storage (which this
// package cannot import) and Record.
type contractStore interface {
	Records() (map[string]*Record, []Repair, error)
	Record(name string) (*Record, error)
	SaveRecords(recs []*Record) error
	DeleteRecord(name string) error
	Probe(name string) error
	SaveVersion(name string, f Files) (string, error)
	Live(name string) (Files, string, error)
	LiveVersion(name string) (string, error)
	Version(name, version string) (Files, error)
	Unfinished(name string) (string, error)
	DropUnfinished(name, version string) error
	MakeLive(name, version string) error
	LockWait(ctx context.Context, wait time.Duration, waiting func()) (func() error, bool, error)
	Notes() []string
}

var (
	_ contractStore = (*Store)(nil)
	_ contractStore = (*Memory)(nil)
)

// backend is one implementation under test, with the means to put it in
// the states a kill or an operator leaves.
type backend struct {
	name string
	open func(t *testing.T) contractStore
	// unfinished stores f as a version a kill kept from being made live.
	unfinished func(t *testing.T, st contractStore, name string, f Files) string
	// rollback points live at version by hand, as an operator does.
	rollback func(t *testing.T, st contractStore, name, version string)
	// other returns a handle on the same storage, as a second process.
	other func(t *testing.T, st contractStore) contractStore
}

var backends = []backend{
	{
		name: "Store",
		open: func(t *testing.T) contractStore { return openTest(t) },
		unfinished: func(t *testing.T, st contractStore, name string, f Files) string {
			return killBeforeLive(t, st.(*Store), name, f)
		},
		rollback: func(t *testing.T, st contractStore, name, version string) {
			relink(t, st.(*Store), name, "../archive/"+name+"/"+version)
		},
		other: func(t *testing.T, st contractStore) contractStore {
			s, err := open(st.(*Store).Dir(), osFS{}, fixedClock(t0))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	},
	{
		name: "Memory",
		open: func(*testing.T) contractStore { return NewMemory() },
		unfinished: func(_ *testing.T, st contractStore, name string, f Files) string {
			return st.(*Memory).PutUnfinished(name, f)
		},
		rollback: func(_ *testing.T, st contractStore, name, version string) {
			st.(*Memory).SetLive(name, version)
		},
		other: func(_ *testing.T, st contractStore) contractStore { return st },
	},
}

// forEachBackend runs test once per implementation.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend, st contractStore)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b, b.open(t)) })
	}
}

func TestContractRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, _ backend, st contractStore) {
		long := strings.Repeat("é", MaxErrorLen)
		in := []*Record{messyRecord("shop"), {Name: "blog", RetryCount: 1}, {Name: "api", LastError: long, HeldReason: long}}
		if err := st.SaveRecords(in); err != nil {
			t.Fatal(err)
		}
		if in[0].NotAfter.Location() != zoneEast {
			t.Error("SaveRecords changed the caller's record")
		}
		cut := cutText(long, MaxErrorLen)
		want := map[string]*Record{
			"shop": cleanRecord("shop"),
			"blog": {Name: "blog", Domains: []string{}, RetryCount: 1},
			"api":  {Name: "api", Domains: []string{}, LastError: cut, HeldReason: cut},
		}
		got, repairs, err := st.Records()
		if err != nil || len(repairs) != 0 || !reflect.DeepEqual(got, want) {
			t.Fatalf("Records = %+v, %v, %v\nwant %+v", got, repairs, err, want)
		}

		// What Records and Record return is the caller's to change.
		got["shop"].Domains[0], got["shop"].ARI.ExplanationURL, got["blog"].RetryCount = "changed", "changed", 9
		if r, err := st.Record("shop"); err != nil || !reflect.DeepEqual(r, want["shop"]) {
			t.Errorf("Record(shop) = %+v, %v; a returned copy changed the store", r, err)
		}
		if again, _, _ := st.Records(); !reflect.DeepEqual(again, want) {
			t.Error("a returned copy changed the store")
		}

		// A later record of the same name in one batch wins.
		if err := st.SaveRecords([]*Record{{Name: "blog", RetryCount: 2}, {Name: "blog", RetryCount: 3}}); err != nil {
			t.Fatal(err)
		}
		if r, err := st.Record("blog"); err != nil || r.RetryCount != 3 {
			t.Errorf("Record(blog) = %+v, %v; want retry_count 3", r, err)
		}

		// A batch with a record that cannot be written writes nothing.
		for _, bad := range []*Record{nil, {Name: "../x"}, {Name: "huge", Domains: make([]string, 300_000)}} {
			if err := st.SaveRecords([]*Record{{Name: "blog", RetryCount: 7}, bad}); err == nil {
				t.Errorf("SaveRecords with %+v succeeded", bad)
			}
		}
		if r, _ := st.Record("blog"); r.RetryCount != 3 {
			t.Errorf("a refused batch changed blog: %+v", r)
		}

		if _, err := st.Record("nosuch"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Record(nosuch) = %v, want ErrNotFound", err)
		}
		for range 2 {
			if err := st.DeleteRecord("blog"); err != nil {
				t.Fatalf("DeleteRecord: %v", err)
			}
		}
		if _, err := st.Record("blog"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Record after DeleteRecord = %v, want ErrNotFound", err)
		}
		if len(st.Notes()) != 0 {
			t.Errorf("Notes = %q", st.Notes())
		}
	})
}

func TestContractVersions(t *testing.T) {
	ca := newTestCA(t)
	var files []Files
	for i := range 4 {
		f, _ := ca.issue(t, int64(i+1), t0, "shop.example.com")
		files = append(files, f)
	}
	same := func(a, b Files) bool {
		return bytes.Equal(a.Cert, b.Cert) && bytes.Equal(a.Chain, b.Chain) && bytes.Equal(a.Fullchain, b.Fullchain) && bytes.Equal(a.Key, b.Key)
	}
	forEachBackend(t, func(t *testing.T, b backend, st contractStore) {
		checkLive := func(wantV string, wantF Files) {
			t.Helper()
			f, v, err := st.Live("shop")
			if err != nil || v != wantV || !same(f, wantF) {
				t.Errorf("Live = %s, %v; want %s and its files", v, err, wantV)
			}
			if v, err := st.LiveVersion("shop"); err != nil || v != wantV {
				t.Errorf("LiveVersion = %s, %v; want %s", v, err, wantV)
			}
		}
		checkUnfinished := func(want string) {
			t.Helper()
			if v, err := st.Unfinished("shop"); err != nil || v != want {
				t.Errorf("Unfinished = %q, %v; want %q", v, err, want)
			}
		}

		if _, _, err := st.Live("shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Live before any version = %v, want ErrNotFound", err)
		}
		if _, err := st.LiveVersion("shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LiveVersion before any version = %v, want ErrNotFound", err)
		}
		checkUnfinished("")
		for _, bad := range []struct {
			name string
			f    Files
		}{
			{"../x", files[0]},
			{"shop", Files{Chain: files[0].Chain, Fullchain: files[0].Fullchain, Key: files[0].Key}},
			{"shop", Files{Cert: files[0].Cert, Chain: files[0].Chain, Key: files[0].Key}},
			{"shop", Files{Cert: files[0].Cert, Chain: files[0].Chain, Fullchain: files[0].Fullchain}},
		} {
			if v, err := st.SaveVersion(bad.name, bad.f); err == nil {
				t.Errorf("SaveVersion(%q) of incomplete files = %s, want an error", bad.name, v)
			}
		}
		if _, err := st.LiveVersion("shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a refused SaveVersion made a version live: %v", err)
		}

		v1, err := st.SaveVersion("shop", files[0])
		if err != nil {
			t.Fatal(err)
		}
		v2, err := st.SaveVersion("shop", files[1])
		if err != nil {
			t.Fatal(err)
		}
		if !(v1 < v2) {
			t.Errorf("versions %s then %s do not sort in the order they were made", v1, v2)
		}
		checkLive(v2, files[1])
		checkUnfinished("")

		// A kill between storing and making live.
		u := b.unfinished(t, st, "shop", files[2])
		if !(v2 < u) {
			t.Errorf("unfinished %s does not sort after %s", u, v2)
		}
		checkLive(v2, files[1])
		checkUnfinished(u)
		if f, err := st.Version("shop", u); err != nil || !same(f, files[2]) {
			t.Errorf("Version(%s) = %v; want the stored files", u, err)
		}
		if err := st.MakeLive("shop", u); err != nil {
			t.Fatal(err)
		}
		checkLive(u, files[2])
		checkUnfinished("")

		// One that fails the caller's checks is dropped, and kept.
		u2 := b.unfinished(t, st, "shop", files[3])
		checkUnfinished(u2)
		if err := st.DropUnfinished("shop", u2); err != nil {
			t.Fatal(err)
		}
		checkUnfinished("")
		checkLive(u, files[2])
		if f, err := st.Version("shop", u2); err != nil || !same(f, files[3]) {
			t.Errorf("Version(%s) after DropUnfinished = %v; want the files kept", u2, err)
		}

		// An operator's rollback, by hand or with MakeLive, offers nothing.
		b.rollback(t, st, "shop", v1)
		checkLive(v1, files[0])
		checkUnfinished("")
		if err := st.MakeLive("shop", v2); err != nil {
			t.Fatal(err)
		}
		checkLive(v2, files[1])
		checkUnfinished("")

		if err := st.MakeLive("shop", "20991231T235959Z-999"); err == nil {
			t.Error("MakeLive of a version that does not exist succeeded")
		}
		if _, err := st.Version("shop", "20991231T235959Z-999"); err == nil {
			t.Error("Version of a version that does not exist succeeded")
		}
		checkLive(v2, files[1])
		if err := st.Probe("shop"); err != nil {
			t.Errorf("Probe: %v", err)
		}
		if err := st.Probe("../shop"); err == nil {
			t.Error("Probe(../shop) succeeded")
		}
	})
}

// TestContractRebuild: a live certificate without a record gets one
// rebuilt from its live files; one whose live files cannot be used gets
// a Repair saying why, and no record.
func TestContractRebuild(t *testing.T) {
	ca := newTestCA(t)
	files, leaf := ca.issue(t, 0x5110, t0, "shop.example.com", "www.shop.example.com")
	junk := Files{Cert: []byte("not a certificate"), Fullchain: []byte("x"), Key: []byte("x")}
	forEachBackend(t, func(t *testing.T, _ backend, st contractStore) {
		v, err := st.SaveVersion("shop", files)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.SaveVersion("junk", junk); err != nil {
			t.Fatal(err)
		}
		if err := st.SaveRecords([]*Record{{Name: "blog", RetryCount: 2}}); err != nil {
			t.Fatal(err)
		}
		recs, repairs, err := st.Records()
		if err != nil {
			t.Fatal(err)
		}
		want := &Record{Name: "shop", Version: v}
		RecordFromCert(want, leaf)
		if !reflect.DeepEqual(recs["shop"], want) {
			t.Errorf("rebuilt shop = %+v, want %+v", recs["shop"], want)
		}
		if _, ok := recs["junk"]; ok || len(recs) != 2 {
			t.Errorf("Records = %v, want blog and shop", recs)
		}
		if len(repairs) != 2 || repairs[0].Name != "junk" || repairs[0].Rebuilt || repairs[0].RebuildErr == nil ||
			!reflect.DeepEqual(repairs[1], Repair{Name: "shop", Reason: "missing", Rebuilt: true}) {
			t.Errorf("repairs = %+v; want junk with a RebuildErr, shop rebuilt", repairs)
		}
		if _, err := st.Record("shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Record(shop) = %v; Records must not write what it rebuilt", err)
		}
		if err := st.SaveRecords([]*Record{recs["shop"]}); err != nil {
			t.Fatal(err)
		}
		if _, repairs, _ := st.Records(); len(repairs) != 1 || repairs[0].Name != "junk" {
			t.Errorf("repairs after saving shop = %+v, want only junk", repairs)
		}
	})
}

// TestContractLockWait: the lock is taken at once when free; when another
// holds it, waiting is called once, then LockWait times out with
// ErrLocked, or takes the lock when it is released; WaitForever waits
// until ctx ends. Release may be called more than once and never frees
// a lock someone else took since.
func TestContractLockWait(t *testing.T) {
	errStop := errors.New("stopped by the test")
	tests := []struct {
		desc string
		held bool
		wait time.Duration
		// during runs inside waiting: release frees the other's lock,
		// cancel ends ctx.
		during     func(release func() error, cancel context.CancelCauseFunc)
		wantErr    []error
		wantWaited bool
	}{
		{desc: "free", wait: time.Minute},
		{desc: "free, no wait", wait: 0},
		{desc: "held, no wait", held: true, wait: 0, wantErr: []error{ErrLocked}, wantWaited: true},
		{desc: "held until the wait runs out", held: true, wait: 30 * time.Millisecond, wantErr: []error{ErrLocked, context.DeadlineExceeded}, wantWaited: true},
		{
			desc: "released while waiting", held: true, wait: time.Minute, wantWaited: true,
			during: func(release func() error, _ context.CancelCauseFunc) { _ = release() },
		},
		{
			desc: "WaitForever, released while waiting", held: true, wait: WaitForever, wantWaited: true,
			during: func(release func() error, _ context.CancelCauseFunc) { _ = release() },
		},
		{
			desc: "WaitForever until ctx ends", held: true, wait: WaitForever, wantErr: []error{ErrLocked, errStop}, wantWaited: true,
			during: func(_ func() error, cancel context.CancelCauseFunc) { cancel(errStop) },
		},
	}
	forEachBackend(t, func(t *testing.T, b backend, _ contractStore) {
		for _, tt := range tests {
			t.Run(tt.desc, func(t *testing.T) {
				st := b.open(t)
				other := b.other(t, st)
				releaseOther := func() error { return nil }
				if tt.held {
					r, waited, err := other.LockWait(context.Background(), 0, nil)
					if err != nil || waited {
						t.Fatalf("the other's LockWait = %v, %v", waited, err)
					}
					releaseOther = r
					defer r()
				}
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				var calls atomic.Int32
				waiting := func() {
					calls.Add(1)
					if tt.during != nil {
						tt.during(releaseOther, cancel)
					}
				}
				release, waited, err := st.LockWait(ctx, tt.wait, waiting)
				if waited != tt.wantWaited {
					t.Errorf("waited = %v, want %v", waited, tt.wantWaited)
				}
				if n, want := calls.Load(), map[bool]int32{false: 0, true: 1}[tt.wantWaited]; n != want {
					t.Errorf("waiting called %d times, want %d", n, want)
				}
				if tt.wantErr != nil {
					for _, w := range tt.wantErr {
						if !errors.Is(err, w) {
							t.Errorf("LockWait = %v, want it to match %v", err, w)
						}
					}
					if release != nil {
						t.Error("LockWait returned a release with its error")
					}
					return
				}
				if err != nil {
					t.Fatalf("LockWait = %v", err)
				}
				// Held: the other cannot take it now.
				if _, _, err := other.LockWait(context.Background(), 0, nil); !errors.Is(err, ErrLocked) {
					t.Errorf("the other's LockWait while held = %v, want ErrLocked", err)
				}
				if err := release(); err != nil {
					t.Fatal(err)
				}
				r2, _, err := other.LockWait(context.Background(), 0, nil)
				if err != nil {
					t.Fatalf("the other's LockWait after release = %v", err)
				}
				defer r2()
				if err := release(); err != nil { // a second, stale release
					t.Errorf("second release: %v", err)
				}
				if _, _, err := st.LockWait(context.Background(), 0, nil); !errors.Is(err, ErrLocked) {
					t.Errorf("LockWait after a stale release = %v; the stale release freed the other's lock", err)
				}
			})
		}
	})
}
