package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Zones other than UTC, for times a caller may hold.
var (
	zoneEast = time.FixedZone("UTC+05:30", 5*3600+30*60)
	zoneWest = time.FixedZone("UTC-07", -7*3600)
)

// recordWith is a record of certificate name with every field set; at
// gives each time as an offset from t0 and a zone to express it in.
func recordWith(name string, at func(d time.Duration, z *time.Location) *time.Time) *Record {
	return &Record{
		Name:            name,
		Domains:         []string{name + ".example.com", "www." + name + ".example.com"},
		Version:         "20261121T160000Z-002",
		DeployedVersion: "20261121T160000Z-001",
		Serial:          "4a3f0c",
		NotBefore:       at(-time.Hour, zoneWest),
		NotAfter:        at(90*24*time.Hour, zoneEast),
		Issuer:          "renewd test intermediate",
		RenewTime:       at(0, zoneEast),
		LastAttempt:     at(5*time.Minute, zoneWest),
		RetryCount:      3,
		NextRetryTime:   at(25*time.Minute, zoneEast),
		LastError:       "acme: urn:ietf:params:acme:error:rateLimited: too many new orders recently",
		LastErrorDetail: "order: acme: error: 429 :: POST :: https://ca/new-order :: urn:ietf:params:acme:error:rateLimited :: too many new orders recently",
		LastFailure:     at(5*time.Minute, time.UTC),
		ServedChain:     "incomplete",
		Repaired:        []string{"fetched the intermediate through AIA"},
		ServedCheckedAt: at(2*time.Minute, zoneEast),
		CanaryProof:     at(-48*time.Hour, zoneWest),
		HeldBy:          "canary",
		HeldReason:      "canary canary failed: acme: 503 (its next retry is at 2026-11-21T16:20:00Z)",
		WentAheadOf:     "canary",
		WentAheadReason: "in its emergency window",
		RevokedAt:       &t1,
		RevokeReason:    "keyCompromise",
		ARI: &ARI{
			WindowStart:    at(60*24*time.Hour, zoneEast),
			WindowEnd:      at(62*24*time.Hour, zoneWest),
			SelectedTime:   at(61*24*time.Hour, time.UTC),
			ExplanationURL: "https://ca.example/incidents/42",
			NextPoll:       at(6*time.Hour, zoneEast),
		},
	}
}

// messyRecord is recordWith with times carrying nanoseconds in other zones.
func messyRecord(name string) *Record {
	return recordWith(name, func(d time.Duration, z *time.Location) *time.Time {
		t := t0.Add(d).Add(987654321 * time.Nanosecond).In(z)
		return &t
	})
}

// cleanRecord is what messyRecord must read back as: UTC, whole seconds.
func cleanRecord(name string) *Record {
	return recordWith(name, func(d time.Duration, _ *time.Location) *time.Time {
		t := t0.Add(d)
		return &t
	})
}

// TestRecordFieldsAllSet keeps recordWith complete: a field added to
// Record or ARI later must be added there too, or the round trip below
// would not cover it.
func TestRecordFieldsAllSet(t *testing.T) {
	r := messyRecord("shop")
	for _, v := range []reflect.Value{reflect.ValueOf(*r), reflect.ValueOf(*r.ARI)} {
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Errorf("%s.%s is not set in recordWith", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	s := openTest(t)
	// A state/ directory someone opened up is tightened by the next save.
	if err := os.Chmod(s.stateRoot(), 0o755); err != nil {
		t.Fatal(err)
	}
	in := []*Record{messyRecord("shop"), {Name: "blog", RetryCount: 1}}
	if err := s.SaveRecords(in); err != nil {
		t.Fatal(err)
	}
	if in[0].NotAfter.Location() != zoneEast || in[0].NotAfter.Nanosecond() == 0 {
		t.Error("SaveRecords changed the caller's record")
	}

	got, repairs, err := s.Records()
	if err != nil || len(repairs) != 0 {
		t.Fatalf("Records = %v, %v", repairs, err)
	}
	want := map[string]*Record{
		"shop": cleanRecord("shop"),
		"blog": {Name: "blog", Domains: []string{}, RetryCount: 1},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("Records =\n%s\nwant\n%s", g, w)
	}
	for name, r := range got {
		for _, tm := range recordTimes(r) {
			if tm.Location() != time.UTC || tm.Nanosecond() != 0 {
				t.Errorf("%s: time %v is not UTC whole seconds", name, tm)
			}
		}
	}
	one, err := s.Record("shop")
	if err != nil || !reflect.DeepEqual(one, want["shop"]) {
		t.Errorf("Record(shop) = %+v, %v", one, err)
	}

	if p := perm(t, s.stateRoot()); p != 0o700 {
		t.Errorf("state/ mode %#o, want 0700", p)
	}
	for name := range want {
		if p := perm(t, s.recordPath(name)); p != 0o600 {
			t.Errorf("state/%s.json mode %#o, want 0600", name, p)
		}
	}
	checkRecordJSON(t, mustRead(t, s.recordPath("shop")))
	if left := leftovers(t, s.Dir()); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// recordTimes returns every time set in r.
func recordTimes(r *Record) []time.Time {
	ps := []*time.Time{r.NotBefore, r.NotAfter, r.RenewTime, r.LastAttempt, r.NextRetryTime, r.LastFailure, r.ServedCheckedAt, r.CanaryProof}
	if r.ARI != nil {
		ps = append(ps, r.ARI.WindowStart, r.ARI.WindowEnd, r.ARI.SelectedTime, r.ARI.NextPoll)
	}
	var out []time.Time
	for _, p := range ps {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

var (
	snakeRE   = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	rfc3339RE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)
)

// checkRecordJSON checks the file of a record with every field set: its
// schema, its names (snake_case, the ones docs/storage.md lists) and its
// times (RFC 3339 UTC, whole seconds).
func checkRecordJSON(t *testing.T, data []byte) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("record file is not JSON: %v\n%s", err, data)
	}
	if doc["schema"] != float64(1) {
		t.Errorf(`"schema" = %v, want 1`, doc["schema"])
	}
	wantKeys := []string{"schema", "name", "domains", "version", "deployed_version", "serial", "not_before", "not_after",
		"issuer", "renew_time", "last_attempt", "retry_count", "next_retry_time", "last_error", "last_error_detail", "last_failure",
		"served_chain", "served_checked_at", "repaired", "canary_proof", "held_by", "held_reason", "went_ahead_of",
		"went_ahead_reason", "ari", "revoked_at", "revoke_reason"}
	if got := slices.Sorted(maps.Keys(doc)); !slices.Equal(got, slices.Sorted(slices.Values(wantKeys))) {
		t.Errorf("keys %v\nwant %v", got, slices.Sorted(slices.Values(wantKeys)))
	}
	ari, _ := doc["ari"].(map[string]any)
	if got, want := slices.Sorted(maps.Keys(ari)), []string{"explanation_url", "next_poll", "selected_time", "window_end", "window_start"}; !slices.Equal(got, want) {
		t.Errorf("ari keys %v, want %v", got, want)
	}
	for _, m := range []map[string]any{doc, ari} {
		for k, v := range m {
			if !snakeRE.MatchString(k) {
				t.Errorf("key %q is not snake_case", k)
			}
			if s, ok := v.(string); ok && (strings.HasSuffix(k, "_time") || strings.HasSuffix(k, "_at") ||
				strings.HasPrefix(k, "not_") || strings.HasPrefix(k, "window_") || k == "last_attempt" ||
				k == "last_failure" || k == "canary_proof" || k == "next_poll") && !rfc3339RE.MatchString(s) {
				t.Errorf("%s = %q, want RFC 3339 UTC whole seconds", k, s)
			}
		}
	}
}

// TestSaveRecordsCutsErrors: last_error, and every other text that may
// quote an error, is cut to MaxErrorLen on a rune boundary, saying so.
func TestSaveRecordsCutsErrors(t *testing.T) {
	fields := []struct {
		name string
		ptr  func(r *Record) *string
	}{
		{"last_error", func(r *Record) *string { return &r.LastError }},
		{"last_error_detail", func(r *Record) *string { return &r.LastErrorDetail }},
		{"held_reason", func(r *Record) *string { return &r.HeldReason }},
		{"went_ahead_reason", func(r *Record) *string { return &r.WentAheadReason }},
		{"held_by", func(r *Record) *string { return &r.HeldBy }}, // the first release's hold reason
	}
	tests := []struct {
		desc string
		in   string
		cut  bool
	}{
		{desc: "short", in: "acme: 503 Service Unavailable"},
		{desc: "exactly MaxErrorLen", in: strings.Repeat("x", MaxErrorLen)},
		{desc: "one byte over", in: strings.Repeat("x", MaxErrorLen+1), cut: true},
		{desc: "two-byte runes across the cut", in: strings.Repeat("é", MaxErrorLen), cut: true},
		{desc: "a CA's whole HTML page", in: strings.Repeat("<html>oops</html>\n", 70_000), cut: true},
	}
	for _, f := range fields {
		for _, tt := range tests {
			t.Run(f.name+"/"+tt.desc, func(t *testing.T) {
				s := openTest(t)
				in := &Record{Name: "shop"}
				*f.ptr(in) = tt.in
				if err := s.SaveRecord(in); err != nil {
					t.Fatal(err)
				}
				r, err := s.Record("shop")
				if err != nil {
					t.Fatal(err)
				}
				got := *f.ptr(r)
				switch {
				case !tt.cut && got != tt.in:
					t.Errorf("changed: %d bytes, want %d", len(got), len(tt.in))
				case tt.cut && (len(got) > MaxErrorLen || !strings.HasSuffix(got, "…(cut)")):
					t.Errorf("%d bytes ending %q; want at most %d ending …(cut)", len(got), got[max(0, len(got)-20):], MaxErrorLen)
				case tt.cut && !strings.HasPrefix(tt.in, strings.TrimSuffix(got, " …(cut)")):
					t.Error("the cut text is not the start of the original")
				case !utf8.ValidString(got):
					t.Error("the cut split a rune")
				}
			})
		}
	}
}

// TestSaveRecordsRefuses: a batch with a record renewd could not write or
// would not read back is refused whole, and nothing is written.
func TestSaveRecordsRefuses(t *testing.T) {
	huge := &Record{Name: "huge"}
	for i := range 20_000 {
		huge.Domains = append(huge.Domains, fmt.Sprintf("host-%05d.a-rather-long-subdomain-name.example.com", i))
	}
	tests := []struct {
		desc string
		bad  *Record
		want string
	}{
		{desc: "over the size renewd reads", bad: huge, want: "more than the 1048576 renewd reads"},
		{desc: "nil record", bad: nil, want: "record is nil"},
		{desc: "name escaping state/", bad: &Record{Name: "../shop"}, want: `".."`},
		{desc: "empty name", bad: &Record{}, want: "certificate name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := openTest(t)
			old := &Record{Name: "shop", RetryCount: 1}
			if err := s.SaveRecord(old); err != nil {
				t.Fatal(err)
			}
			before := mustRead(t, s.recordPath("shop"))
			err := s.SaveRecords([]*Record{{Name: "shop", RetryCount: 2}, {Name: "blog"}, tt.bad})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SaveRecords = %v, want an error containing %q", err, tt.want)
			}
			if got := mustRead(t, s.recordPath("shop")); string(got) != string(before) {
				t.Errorf("state/shop.json changed:\n%s", got)
			}
			entries, _ := os.ReadDir(s.stateRoot())
			if len(entries) != 1 {
				t.Errorf("state/ holds %d entries, want only shop.json", len(entries))
			}
		})
	}
}

// TestSaveRecordsDuplicateNames: a batch is a list of updates in order,
// so when it names a certificate twice the last record is the one kept,
// as in Memory. The file is written once.
func TestSaveRecordsDuplicateNames(t *testing.T) {
	s := openTest(t)
	if err := s.SaveRecord(&Record{Name: "shop", RetryCount: 1}); err != nil {
		t.Fatal(err)
	}
	ffs := &faultFS{}
	s.fs = ffs
	err := s.SaveRecords([]*Record{{Name: "shop", RetryCount: 2}, {Name: "blog"}, {Name: "shop", RetryCount: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Record("shop"); err != nil || r.RetryCount != 3 {
		t.Errorf("Record(shop) = %+v, %v; want the last one (retry_count 3)", r, err)
	}
	renames := 0
	for _, o := range ffs.ops {
		if o.op == "rename" && o.path == s.recordPath("shop") {
			renames++
		}
	}
	if renames != 1 {
		t.Errorf("state/shop.json renamed into place %d times, want once", renames)
	}
	if left := leftovers(t, s.Dir()); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestSaveRecordsReplaceAndDelete(t *testing.T) {
	s := openTest(t)
	for _, n := range []int{1, 2} {
		if err := s.SaveRecord(&Record{Name: "shop", RetryCount: n}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := s.Record("shop"); err != nil || r.RetryCount != 2 {
		t.Errorf("Record(shop) = %+v, %v; want retry_count 2", r, err)
	}
	if err := s.SaveRecords(nil); err != nil {
		t.Errorf("SaveRecords(nil) = %v", err)
	}
	for range 2 { // a missing record is not an error
		if err := s.DeleteRecord("shop"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Record("shop"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Record after DeleteRecord = %v, want ErrNotFound", err)
	}
	if err := s.DeleteRecord("../x"); err == nil {
		t.Error("DeleteRecord(../x) succeeded")
	}
	if _, err := s.Record("../x"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Record(../x) = %v, want a name error", err)
	}
}

// liveShop saves a live version of shop and returns the record Records
// rebuilds from it.
func liveShop(t *testing.T, s *Store, ca *testCA) *Record {
	t.Helper()
	files, leaf := ca.issue(t, 0x5110, t0, "shop.example.com", "www.shop.example.com")
	want := &Record{Name: "shop", Version: mustSave(t, s, "shop", files)}
	RecordFromCert(want, leaf)
	return want
}

// TestRecordsMissingRecord: a live certificate without a record gets one
// rebuilt from live/<name>, or, when its live version cannot be used, a
// Repair saying why and no record.
func TestRecordsMissingRecord(t *testing.T) {
	ca := newTestCA(t)
	t.Run("rebuilt", func(t *testing.T) {
		s := openTest(t)
		want := liveShop(t, s, ca)
		recs, repairs, err := s.Records()
		if err != nil {
			t.Fatal(err)
		}
		wantRepairs := []Repair{{Name: "shop", Reason: "missing", Rebuilt: true}}
		if !reflect.DeepEqual(repairs, wantRepairs) {
			t.Errorf("repairs = %+v, want %+v", repairs, wantRepairs)
		}
		if !reflect.DeepEqual(recs["shop"], want) {
			t.Errorf("rebuilt %+v, want %+v", recs["shop"], want)
		}
		if _, err := os.Lstat(s.recordPath("shop")); !errors.Is(err, os.ErrNotExist) {
			t.Error("Records wrote the rebuilt record; the caller saves it")
		}
	})
	t.Run("live version unusable", func(t *testing.T) {
		s := openTest(t)
		files, _ := ca.issue(t, 1, t0, "shop.example.com")
		other, _ := ca.issue(t, 2, t0, "shop.example.com")
		files.Key = other.Key
		mustSave(t, s, "shop", files)
		recs, repairs, err := s.Records()
		if err != nil {
			t.Fatal(err)
		}
		if len(repairs) != 1 || repairs[0].Rebuilt || repairs[0].RebuildErr == nil || repairs[0].Reason != "missing" {
			t.Fatalf("repairs = %+v, want one for shop with a RebuildErr", repairs)
		}
		if !strings.Contains(repairs[0].String(), "not rebuilt: fullchain.pem and privkey.pem") {
			t.Errorf("repair says %q", repairs[0])
		}
		if _, ok := recs["shop"]; ok {
			t.Error("a record was made from an unusable live version")
		}
	})
}

// Unusable record files, each put at state/shop.json among good records.
var unusableRecords = []struct {
	desc   string
	make   func(t *testing.T, path string)
	reason string
}{
	{
		desc:   "truncated JSON",
		make:   writeRecordFile(`{"schema": 1, "name": "shop", "domains": ["shop.exa`),
		reason: "not JSON: unexpected end of JSON input (truncated?)",
	},
	{desc: "empty file", make: writeRecordFile(``), reason: "(truncated?)"},
	{desc: "not JSON", make: writeRecordFile("retry_count: 3\n"), reason: "not JSON: invalid character"},
	{desc: "a JSON array", make: writeRecordFile(`[1, 2]`), reason: "not JSON: json: cannot unmarshal array"},
	{desc: "null", make: writeRecordFile("null\n"), reason: "no valid schema version (got 0, want 1)"},
	{
		desc:   "schema 2, from a newer renewd",
		make:   writeRecordFile(`{"schema": 2, "name": "shop", "domains": []}`),
		reason: "schema 2 is newer than this renewd knows (1)",
	},
	{desc: "schema 0", make: writeRecordFile(`{"schema": 0, "name": "shop"}`), reason: "no valid schema version (got 0, want 1)"},
	{desc: "schema missing", make: writeRecordFile(`{"name": "shop", "retry_count": 2}`), reason: "no valid schema version (got 0, want 1)"},
	{desc: "schema a string", make: writeRecordFile(`{"schema": "1", "name": "shop"}`), reason: "not JSON: json: cannot unmarshal string"},
	{
		desc:   "names another certificate",
		make:   writeRecordFile(`{"schema": 1, "name": "blog", "domains": ["blog.example.com"]}`),
		reason: `it names certificate "blog", not "shop"`,
	},
	{
		desc: "symlink to /etc/passwd",
		make: func(t *testing.T, path string) {
			if err := os.Symlink("/etc/passwd", path); err != nil {
				t.Fatal(err)
			}
		},
		reason: "a symlink, not a file renewd wrote",
	},
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
		desc: "socket",
		make: func(t *testing.T, path string) {
			if err := mksocket(t, path); err != nil {
				t.Fatal(err)
			}
		},
		reason: "not a regular file (a socket)",
	},
	{
		desc: "device like /dev/zero",
		make: func(t *testing.T, path string) {
			if err := mkzero(path); err != nil {
				t.Skipf("cannot make a device node here: %v", err)
			}
		},
		reason: "not a regular file (a device)",
	},
	{
		desc: "directory",
		make: func(t *testing.T, path string) {
			if err := os.MkdirAll(filepath.Join(path, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
		},
		reason: "not a regular file (a directory)",
	},
	{
		desc:   "over the size bound",
		make:   writeRecordFile(`{"schema": 1, "name": "shop"}` + strings.Repeat(" ", maxRecordSize)),
		reason: fmt.Sprintf("%d bytes, more than the %d renewd accepts", maxRecordSize+29, maxRecordSize),
	},
	{
		desc: "huge sparse file",
		make: func(t *testing.T, path string) {
			writeRecordFile(`{"schema": 1, "name": "shop"}`)(t, path)
			if err := os.Truncate(path, 1<<40); err != nil {
				t.Fatal(err)
			}
		},
		reason: fmt.Sprintf("%d bytes, more than the %d renewd accepts", int64(1)<<40, maxRecordSize),
	},
}

func writeRecordFile(content string) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecordsUnusableFile puts each kind of unusable file at
// state/shop.json beside good records of blog and api. A writable store
// moves exactly that file aside and rebuilds shop alone from live/shop;
// a read-only store moves nothing and rebuilds it in memory.
func TestRecordsUnusableFile(t *testing.T) {
	ca := newTestCA(t)
	for _, tt := range unusableRecords {
		for _, readOnly := range []bool{false, true} {
			desc := tt.desc
			if readOnly {
				desc += "/read-only"
			}
			t.Run(desc, func(t *testing.T) {
				s := openTest(t)
				wantShop := liveShop(t, s, ca)
				for i, name := range []string{"blog", "api"} { // live too, so that "alone" means something
					files, _ := ca.issue(t, int64(i+2), t0, name+".example.com")
					mustSave(t, s, name, files)
				}
				good := []*Record{messyRecord("blog"), messyRecord("api")}
				if err := s.SaveRecords(good); err != nil {
					t.Fatal(err)
				}
				tt.make(t, s.recordPath("shop"))
				before := snapshot(t, s.Dir())
				passwd := snapshot(t, "/etc/passwd")

				reader := s
				if readOnly {
					var err error
					if reader, err = OpenReadOnly(s.Dir()); err != nil {
						t.Fatal(err)
					}
				}
				recs, repairs := recordsWithin(t, reader, 10*time.Second)

				wantRepair := Repair{Name: "shop", Reason: tt.reason, Rebuilt: true}
				if !readOnly {
					wantRepair.MovedTo = "state/shop.json.corrupt-20261121T160000Z"
				}
				if len(repairs) != 1 || !strings.Contains(repairs[0].Reason, tt.reason) ||
					repairs[0].MovedTo != wantRepair.MovedTo || !repairs[0].Rebuilt || repairs[0].RebuildErr != nil {
					t.Errorf("repairs = %+v\nwant [%+v]", repairs, wantRepair)
				}
				want := map[string]*Record{"shop": wantShop, "blog": cleanRecord("blog"), "api": cleanRecord("api")}
				if !reflect.DeepEqual(recs, want) {
					t.Errorf("Records = %+v\nwant %+v", recs, want)
				}

				after := snapshot(t, s.Dir())
				moved := "state/shop.json.corrupt-20261121T160000Z"
				if !readOnly {
					// The unusable file moves, whatever it is, and nothing else.
					renamed := map[string]entry{}
					for p, e := range before {
						if rest, ok := strings.CutPrefix(p, "state/shop.json"); ok {
							p = moved + rest
						}
						renamed[p] = e
					}
					before = renamed
					delete(before, "state") // its entries changed
					delete(after, "state")
				}
				diffSnapshots(t, before, after)
				diffSnapshots(t, passwd, snapshot(t, "/etc/passwd"))
			})
		}
	}
}

// recordsWithin calls Records and fails the test if it does not return
// within limit: a named pipe must never make it hang.
func recordsWithin(t *testing.T, s *Store, limit time.Duration) (map[string]*Record, []Repair) {
	t.Helper()
	type result struct {
		recs    map[string]*Record
		repairs []Repair
		err     error
	}
	done := make(chan result, 1)
	go func() {
		recs, repairs, err := s.Records()
		done <- result{recs, repairs, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Records: %v", r.err)
		}
		return r.recs, r.repairs
	case <-time.After(limit):
		t.Fatalf("Records did not return within %v", limit)
		return nil, nil
	}
}

// TestRecordsUnusableWithoutLive: an unusable record of a certificate that
// has no live version is moved aside and not replaced; one whose live
// version cannot be used says why it was not rebuilt.
func TestRecordsUnusableWithoutLive(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		desc       string
		live       func(t *testing.T, s *Store)
		rebuildErr string
	}{
		{desc: "no live version"},
		{
			desc: "live link leaves the tree",
			live: func(t *testing.T, s *Store) {
				liveShop(t, s, ca)
				relink(t, s, "shop", "/etc")
			},
			rebuildErr: "outside archive/shop/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := openTest(t)
			if tt.live != nil {
				tt.live(t, s)
			}
			writeRecordFile("garbage")(t, s.recordPath("shop"))
			recs, repairs, err := s.Records()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 0 {
				t.Errorf("Records = %v, want none", recs)
			}
			if len(repairs) != 1 || repairs[0].Rebuilt || repairs[0].MovedTo == "" {
				t.Fatalf("repairs = %+v", repairs)
			}
			gotErr := ""
			if repairs[0].RebuildErr != nil {
				gotErr = repairs[0].RebuildErr.Error()
			}
			if (tt.rebuildErr == "") != (gotErr == "") || !strings.Contains(gotErr, tt.rebuildErr) {
				t.Errorf("RebuildErr = %q, want %q", gotErr, tt.rebuildErr)
			}
		})
	}
}

// TestRecordsMoveAsideTwice: a second unusable file in the same second
// does not overwrite the first one moved aside.
func TestRecordsMoveAsideTwice(t *testing.T) {
	s := openTest(t)
	var moved []string
	for _, content := range []string{"first", "second"} {
		writeRecordFile(content)(t, s.recordPath("shop"))
		_, repairs, err := s.Records()
		if err != nil || len(repairs) != 1 {
			t.Fatalf("Records = %+v, %v", repairs, err)
		}
		moved = append(moved, repairs[0].MovedTo)
		if got := mustRead(t, filepath.Join(s.Dir(), repairs[0].MovedTo)); string(got) != content {
			t.Errorf("%s holds %q, want %q", repairs[0].MovedTo, got, content)
		}
	}
	want := []string{"state/shop.json.corrupt-20261121T160000Z", "state/shop.json.corrupt-20261121T160000Z-2"}
	if !slices.Equal(moved, want) {
		t.Errorf("moved to %v, want %v", moved, want)
	}
	// Moved-aside files are not records.
	if recs, repairs, err := s.Records(); err != nil || len(recs)+len(repairs) != 0 {
		t.Errorf("Records after = %v, %v, %v; want nothing", recs, repairs, err)
	}
}
