package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stateV1 is testdata/state-v1.json: a state.json exactly as the first
// release wrote it (json.MarshalIndent of its State, with a newline), for
// five certificates: a canary with ARI and a served-chain check, a shop
// with a pending deploy and an ARI explanation URL, a blog in backoff
// with a multi-line error, an api held by the canary (that release kept
// the canary's error in held_by) and a name never issued. That release
// wrote last_failure and served_checked_at as time.Now() gave them, with
// nanoseconds and the local offset.
const stateV1 = "testdata/state-v1.json"

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	t = t.UTC()
	return &t
}

// v1Records is what stateV1 holds, as this renewd must read it: every
// time in UTC whole seconds.
func v1Records() map[string]*Record {
	return map[string]*Record{
		"api": {
			Name: "api", Domains: []string{"api.example.com"},
			Version: "20260901T000501Z-001", DeployedVersion: "20260901T000501Z-001", Serial: "1b",
			NotBefore: at("2026-09-01T00:05:01Z"), NotAfter: at("2026-11-30T00:05:00Z"), Issuer: "E6",
			RenewTime: at("2026-09-01T00:05:01Z"), LastAttempt: at("2026-09-01T00:05:01Z"),
			// The first release's held_by sentence becomes this release's
			// pair: the canary's name and the sentence as the reason.
			HeldBy:     "canary",
			HeldReason: "canary canary failed: acme: error: 503 :: POST :: https://acme-v02.api.letsencrypt.org/acme/new-order :: urn:ietf:params:acme:error:serverInternal :: The service is down for maintenance",
		},
		"blog": {
			Name: "blog", Domains: []string{"blog.example.com"},
			Version: "20260823T101500Z-002", DeployedVersion: "20260823T101500Z-002", Serial: "ff00a1",
			NotBefore: at("2026-08-23T10:15:00Z"), NotAfter: at("2026-11-21T10:14:59Z"), Issuer: "R11",
			RenewTime: at("2026-08-23T10:15:00Z"), LastAttempt: at("2026-11-21T17:40:00Z"), RetryCount: 3,
			NextRetryTime: at("2026-11-21T18:20:00Z"),
			LastError:     "obtain blog: acme: error: 429 :: POST :: https://acme-v02.api.letsencrypt.org/acme/new-order :: urn:ietf:params:acme:error:rateLimited :: too many certificates (5) already issued for \"blog.example.com\" in the last 168h0m0s, retry after 2026-11-21 18:20:00 UTC\nsee https://letsencrypt.org/docs/rate-limits/ — «duplicate certificate»",
			LastFailure:   at("2026-11-21T17:40:00Z"),
		},
		"canary": {
			Name: "canary", Domains: []string{"canary.demo.example.com"},
			Version: "20261121T175839Z-001", DeployedVersion: "20261121T175839Z-001", Serial: "6f4214ba4f8b753d",
			NotBefore: at("2026-11-21T17:58:39Z"), NotAfter: at("2027-02-19T17:58:38Z"), Issuer: "Pebble Intermediate CA 570ce1",
			RenewTime: at("2026-11-21T17:58:39Z"), LastAttempt: at("2026-11-21T17:58:39Z"),
			ServedChain: "complete", ServedCheckedAt: at("2026-11-21T17:58:41Z"),
			ARI: &ARI{
				WindowStart: at("2027-01-19T17:58:38Z"), WindowEnd: at("2027-01-21T17:58:38Z"),
				SelectedTime: at("2027-01-20T09:12:51Z"), NextPoll: at("2026-11-22T05:58:40Z"),
			},
		},
		"intranet": {
			Name: "intranet", Domains: []string{}, LastAttempt: at("2026-11-21T17:58:40Z"), RetryCount: 1,
			NextRetryTime: at("2026-11-21T18:08:40Z"),
			LastError:     "obtain intranet: acme: error: 400 :: urn:ietf:params:acme:error:rejectedIdentifier :: Error creating new order :: Cannot issue for \"intranet.corp\": Domain name does not end with a valid public suffix (TLD)",
			LastFailure:   at("2026-11-21T17:58:40Z"),
		},
		"shop": {
			Name: "shop", Domains: []string{"shop.example.com", "www.shop.example.com"},
			Version: "20261121T180102Z-001", DeployedVersion: "20261015T040417Z-001", Serial: "3a0c9e51d2f70b44",
			NotBefore: at("2026-11-21T18:01:02Z"), NotAfter: at("2027-02-19T18:01:01Z"), Issuer: "Pebble Intermediate CA 570ce1",
			RenewTime: at("2026-11-21T18:01:02Z"), LastAttempt: at("2026-11-21T18:01:02Z"),
			LastFailure: at("2026-11-21T17:42:10Z"),
			ServedChain: "incomplete", ServedCheckedAt: at("2026-10-15T04:04:19Z"),
			ARI: &ARI{
				WindowStart: at("2026-11-20T00:00:00Z"), WindowEnd: at("2026-11-22T00:00:00Z"),
				SelectedTime:   at("2026-11-21T07:31:26Z"),
				ExplanationURL: "https://letsencrypt.status.io/incidents/revocation-2026-11",
				NextPoll:       at("2026-11-21T23:58:39Z"),
			},
		},
	}
}

// firstReleaseDir returns a storage directory as the first release left
// it: state.json holding content, no state/.
func firstReleaseDir(t *testing.T, content []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil { // as the first release left it
		t.Fatal(err)
	}
	for _, sub := range []string{"accounts", "archive", "live"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, legacyStateFile), content, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkMigrated checks that dir holds the records of stateV1 in state/,
// one file each, and that state.json is kept as migratedName.
func checkMigrated(t *testing.T, s *Store, migratedName string) {
	t.Helper()
	if _, err := os.Lstat(s.legacyPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state.json still there: %v", err)
	}
	if got := mustRead(t, filepath.Join(s.Dir(), migratedName)); string(got) != string(mustRead(t, stateV1)) {
		t.Errorf("%s differs from the state.json it was", migratedName)
	}
	var files []string
	entries, _ := os.ReadDir(s.stateRoot())
	for _, e := range entries {
		if !isTempName(e.Name()) { // what a kill leaves; leftovers are checked apart
			files = append(files, e.Name())
		}
	}
	if want := []string{"api.json", "blog.json", "canary.json", "intranet.json", "shop.json"}; !slices.Equal(files, want) {
		t.Errorf("state/ holds %v, want %v", files, want)
	}
	recs, repairs, err := s.Records()
	if err != nil || len(repairs) != 0 {
		t.Fatalf("Records = %v, %v", repairs, err)
	}
	if want := v1Records(); !reflect.DeepEqual(recs, want) {
		g, _ := json.MarshalIndent(recs, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("Records =\n%s\nwant\n%s", g, w)
	}
	checkModes(t, s.Dir())
}

func TestMigrate(t *testing.T) {
	tests := []struct {
		desc     string
		setup    func(t *testing.T, dir string)
		migrated string
	}{
		{desc: "first start after the upgrade", migrated: "state.json.migrated"},
		{
			desc: "a state.json.migrated of an earlier migration is kept",
			setup: func(t *testing.T, dir string) {
				writeRecordFile("earlier")(t, filepath.Join(dir, "state.json.migrated"))
			},
			migrated: "state.json.migrated-2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := firstReleaseDir(t, mustRead(t, stateV1))
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			s, err := open(dir, osFS{}, fixedClock(t1))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"moved 5 record(s) from state.json into state/, one file per certificate; the old file is " + tt.migrated}
			if !slices.Equal(s.Notes(), want) {
				t.Errorf("Notes = %q, want %q", s.Notes(), want)
			}
			checkMigrated(t, s, tt.migrated)
			for name, w := range v1Records() {
				if r, err := s.Record(name); err != nil || !reflect.DeepEqual(r, w) {
					t.Errorf("Record(%s) = %+v, %v", name, r, err)
				}
			}
			if tt.migrated != "state.json.migrated" {
				if got := mustRead(t, filepath.Join(dir, "state.json.migrated")); string(got) != "earlier" {
					t.Errorf("the earlier state.json.migrated was overwritten: %q", got)
				}
			}
			if left := leftovers(t, dir); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}

			// Once is enough: the next Open finds nothing to migrate.
			before := snapshot(t, s.stateRoot())
			again, err := open(dir, osFS{}, fixedClock(t1))
			if err != nil {
				t.Fatal(err)
			}
			if len(again.Notes()) != 0 {
				t.Errorf("second Open notes %q", again.Notes())
			}
			diffSnapshots(t, before, snapshot(t, s.stateRoot()))
		})
	}
}

// migrationSteps records the calls of a clean writable Open of a first
// release's storage directory.
func migrationSteps(t *testing.T) []step {
	t.Helper()
	dir := firstReleaseDir(t, mustRead(t, stateV1))
	rec := &faultFS{}
	if _, err := open(dir, rec, fixedClock(t1)); err != nil {
		t.Fatal(err)
	}
	steps := stepsOf(dir, rec.ops)
	var renames int
	for _, st := range steps {
		if st.op == "rename" {
			renames++
		}
	}
	if renames != 6 {
		t.Fatalf("%d renames in %v; want 5 records and state.json", renames, steps)
	}
	return steps
}

// TestMigrateInterrupted fails each call of the migration once (EIO), and
// stops it at each call as a kill would: between record writes, before
// the rename of state.json, at the rename, at the fsync after it. A
// second Open on the real filesystem then finishes the migration and no
// record is lost.
func TestMigrateInterrupted(t *testing.T) {
	steps := migrationSteps(t)
	for _, kill := range []bool{false, true} {
		for _, st := range steps {
			desc := "fault/" + st.desc
			if kill {
				desc = "kill/" + st.desc
			}
			t.Run(desc, func(t *testing.T) {
				dir := firstReleaseDir(t, mustRead(t, stateV1))
				ffs := &faultFS{fail: failStep(dir, st, syscall.EIO), check: func(op, path string) { checkModes(t, dir) }}
				if kill {
					ffs.fail = killAt(dir, st)
				}
				_, _ = open(dir, ffs, fixedClock(t1))

				s, err := open(dir, osFS{}, fixedClock(t1))
				if err != nil {
					t.Fatalf("second Open: %v", err)
				}
				checkMigrated(t, s, "state.json.migrated")
				// A kill leaves hidden temporary files, which are ignored; a
				// fault leaves none, but for the write probe whose removal
				// failed: it cannot be removed.
				if left := leftovers(t, dir); len(left) > 0 && !kill && st.key != "remove .renewd.probe-*" {
					t.Errorf("left behind: %v", left)
				}
			})
		}
	}
}

// TestMigrateUnusable: a state.json that cannot be read is moved aside
// with a note, and the next Records rebuilds every live certificate.
func TestMigrateUnusable(t *testing.T) {
	ca := newTestCA(t)
	v1 := string(mustRead(t, stateV1))
	tests := []struct {
		desc   string
		make   func(t *testing.T, path string)
		reason string
	}{
		{desc: "truncated", make: writeRecordFile(v1[:len(v1)/2]), reason: "not JSON: unexpected end of JSON input (truncated?)"},
		{desc: "not JSON", make: writeRecordFile("version = 1\n"), reason: "not JSON: invalid character"},
		{desc: "newer schema", make: writeRecordFile(strings.Replace(v1, `"version": 1,`, `"version": 2,`, 1)), reason: "schema version 2, not 1"},
		{desc: "no schema", make: writeRecordFile(`{"certificates": {}}`), reason: "schema version 0, not 1"},
		{desc: "a null record", make: writeRecordFile(`{"version": 1, "certificates": {"shop": null}}`), reason: "record shop is null"},
		{desc: "a name escaping the tree", make: writeRecordFile(`{"version": 1, "certificates": {"../x": {}}}`), reason: `contains ".."`},
		{
			desc: "named pipe",
			make: func(t *testing.T, path string) {
				if err := mkfifo(path); err != nil {
					t.Fatal(err)
				}
			},
			reason: "not a regular file (a named pipe)",
		},
		{
			desc: "symlink",
			make: func(t *testing.T, path string) {
				if err := os.Symlink("/etc/passwd", path); err != nil {
					t.Fatal(err)
				}
			},
			reason: "a symlink",
		},
		{
			desc: "huge sparse file",
			make: func(t *testing.T, path string) {
				writeRecordFile(v1)(t, path)
				if err := os.Truncate(path, 1<<40); err != nil {
					t.Fatal(err)
				}
			},
			reason: "1099511627776 bytes, more than the 67108864 renewd accepts",
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := openTest(t)
			want := map[string]*Record{"shop": liveShop(t, s, ca)}
			blog, leaf := ca.issue(t, 0xb10, t0, "blog.example.com")
			want["blog"] = &Record{Name: "blog", Version: mustSave(t, s, "blog", blog)}
			RecordFromCert(want["blog"], leaf)
			tt.make(t, s.legacyPath())
			kind := snapshot(t, s.Dir())["state.json"].mode.Type()

			s, err := openWithin(t, s.Dir(), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			moved := "state.json.corrupt-20261201T093000Z"
			if n := s.Notes(); len(n) != 1 || !strings.Contains(n[0], "state.json of an earlier renewd is unusable (") ||
				!strings.Contains(n[0], tt.reason) || !strings.Contains(n[0], "moved to "+moved+"; records are rebuilt from live/") {
				t.Errorf("Notes = %q, want one saying why (%s) and where it went", n, tt.reason)
			}
			if _, err := os.Lstat(s.legacyPath()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state.json still there: %v", err)
			}
			if got := snapshot(t, s.Dir())[moved].mode.Type(); got != kind {
				t.Errorf("%s is a %v, want the %v that was state.json", moved, got, kind)
			}
			recs, repairs, err := s.Records()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(recs, want) {
				t.Errorf("Records = %+v, want %+v", recs, want)
			}
			wantRepairs := []Repair{{Name: "blog", Reason: "missing", Rebuilt: true}, {Name: "shop", Reason: "missing", Rebuilt: true}}
			if !reflect.DeepEqual(repairs, wantRepairs) {
				t.Errorf("repairs = %+v, want %+v", repairs, wantRepairs)
			}
		})
	}
}

// openWithin opens dir for writing at t1, and fails the test if Open does
// not return within limit.
func openWithin(t *testing.T, dir string, limit time.Duration) (*Store, error) {
	t.Helper()
	type result struct {
		s   *Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := open(dir, osFS{}, fixedClock(t1))
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-time.After(limit):
		t.Fatalf("Open did not return within %v", limit)
		return nil, nil
	}
}

// TestMigrateLongTexts: the first release did not bound last_error, and
// kept a canary's whole error in held_by. A record with megabytes of
// either migrates, cut, instead of making every Open fail.
func TestMigrateLongTexts(t *testing.T) {
	long := strings.Repeat("acme: error: 500 :: <html>Internal Server Error</html>\n", 22_000)
	st := legacyState{Version: 1, Certificates: map[string]*Record{
		"shop": {Name: "shop", Domains: []string{"shop.example.com"}, RetryCount: 1, LastError: long, HeldBy: long},
	}}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	dir := firstReleaseDir(t, data)
	s, err := open(dir, osFS{}, fixedClock(t1))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	r, err := s.Record("shop")
	if err != nil {
		t.Fatal(err)
	}
	for field, v := range map[string]string{"last_error": r.LastError, "held_by": r.HeldBy} {
		if len(v) > MaxErrorLen || !strings.HasPrefix(long, strings.TrimSuffix(v, " …(cut)")) {
			t.Errorf("%s is %d bytes; want the start of the text, at most %d", field, len(v), MaxErrorLen)
		}
	}
}

// TestMigrateReadOnly: before the first writable Open, a read-only store
// reads state.json in place and changes nothing.
func TestMigrateReadOnly(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		desc    string
		content func() []byte
		want    func(extra *Record) map[string]*Record
		reason  string
	}{
		{
			desc:    "usable state.json",
			content: func() []byte { return mustRead(t, stateV1) },
			want: func(extra *Record) map[string]*Record {
				recs := v1Records()
				recs["extra"] = extra
				return recs
			},
			reason: "missing",
		},
		{
			desc:    "truncated state.json",
			content: func() []byte { return mustRead(t, stateV1)[:100] },
			want:    func(extra *Record) map[string]*Record { return map[string]*Record{"extra": extra} },
			reason:  "state.json is unusable: not JSON: unexpected end of JSON input (truncated?)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := firstReleaseDir(t, tt.content())
			// A live certificate state.json does not know is rebuilt, in
			// memory only.
			files, leaf := ca.issue(t, 0xe, t0, "extra.example.com")
			version := "20261121T160000Z-001"
			vdir := filepath.Join(dir, "archive", "extra", version)
			if err := os.MkdirAll(vdir, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, vf := range versionFiles {
				if err := os.WriteFile(filepath.Join(vdir, vf.name), *vf.field(&files), vf.perm); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink("../archive/extra/"+version, filepath.Join(dir, "live", "extra")); err != nil {
				t.Fatal(err)
			}
			extra := &Record{Name: "extra", Version: version}
			RecordFromCert(extra, leaf)
			before := snapshot(t, dir)

			s, err := OpenReadOnly(dir)
			if err != nil {
				t.Fatal(err)
			}
			recs, repairs, err := s.Records()
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want(extra); !reflect.DeepEqual(recs, want) {
				t.Errorf("Records = %+v\nwant %+v", recs, want)
			}
			wantRepairs := []Repair{{Name: "extra", Reason: tt.reason, Rebuilt: true}}
			if !reflect.DeepEqual(repairs, wantRepairs) {
				t.Errorf("repairs = %+v, want %+v", repairs, wantRepairs)
			}
			for name, w := range tt.want(extra) {
				r, err := s.Record(name)
				if name == "extra" {
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("Record(extra) = %v, want ErrNotFound: it has no record yet", err)
					}
					continue
				}
				if err != nil || !reflect.DeepEqual(r, w) {
					t.Errorf("Record(%s) = %+v, %v", name, r, err)
				}
			}
			if len(s.Notes()) != 0 {
				t.Errorf("Notes = %q", s.Notes())
			}
			diffSnapshots(t, before, snapshot(t, dir))
		})
	}
}

// TestMigrateWhileReadOnlyOpen: a read-only store (renewd status) that was
// opened before another process's writable Open migrated state.json reads
// the migrated records, not an empty state.json that is no longer there.
func TestMigrateWhileReadOnlyOpen(t *testing.T) {
	dir := firstReleaseDir(t, mustRead(t, stateV1))
	ro, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, migrate := range []bool{false, true} {
		if migrate {
			if _, err := open(dir, osFS{}, fixedClock(t1)); err != nil {
				t.Fatal(err)
			}
		}
		recs, repairs, err := ro.Records()
		if err != nil || len(repairs) != 0 || !reflect.DeepEqual(recs, v1Records()) {
			t.Errorf("migrated %v: Records = %d records, %v, %v; want those of state.json", migrate, len(recs), repairs, err)
		}
		if r, err := ro.Record("shop"); err != nil || !reflect.DeepEqual(r, v1Records()["shop"]) {
			t.Errorf("migrated %v: Record(shop) = %+v, %v", migrate, r, err)
		}
	}
}
