package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func ptr(t time.Time) *time.Time { return &t }

func TestStateRoundTrip(t *testing.T) {
	s := openTest(t)
	shanghai := time.FixedZone("CST", 8*3600)
	in := &State{Certificates: map[string]*Record{
		"shop": {
			Domains:   []string{"shop.example.com", "www.shop.example.com"},
			Version:   "20261121T160000Z-001",
			Serial:    "4a3f",
			NotBefore: ptr(t0.Add(-24 * time.Hour)),
			// Same instant as t0+90d, given in another zone and with nanoseconds.
			NotAfter:      ptr(t0.AddDate(0, 0, 90).In(shanghai).Add(999 * time.Millisecond)),
			Issuer:        "renewd test intermediate",
			RenewTime:     ptr(t0),
			LastAttempt:   ptr(t0),
			RetryCount:    0,
			NextRetryTime: nil,
			ARI: &ARI{
				WindowStart:    ptr(t1),
				WindowEnd:      ptr(t1.Add(48 * time.Hour)),
				SelectedTime:   ptr(t1.Add(time.Hour)),
				ExplanationURL: "https://ca.example/ari",
			},
		},
		"blog": {
			Name:          "wrong, the key wins",
			Domains:       nil,
			LastAttempt:   ptr(t0),
			RetryCount:    3,
			NextRetryTime: ptr(t0.Add(20 * time.Minute)),
			LastError:     "acme: 503",
		},
	}}
	if err := s.SaveState(in); err != nil {
		t.Fatal(err)
	}
	if in.Certificates["shop"].NotAfter.Location() != shanghai {
		t.Error("SaveState changed the caller's state")
	}

	raw := string(mustRead(t, s.statePath()))
	for _, want := range []string{
		`"version": 1`,
		`"renew_time": "2026-11-21T16:00:00Z"`,
		`"not_after": "2027-02-19T16:00:00Z"`,
		`"next_retry_time": null`,
		`"next_poll": null`,
		`"not_before": null`,
		`"next_retry_time": "2026-11-21T16:20:00Z"`,
		`"domains": []`,
		`"name": "blog"`,
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("state.json lacks %s:\n%s", want, raw)
		}
	}
	if p := perm(t, s.statePath()); p != 0o600 {
		t.Errorf("state.json mode %#o, want 0600", p)
	}

	out, rebuilt, err := s.LoadState()
	if err != nil || rebuilt {
		t.Fatalf("LoadState = rebuilt %v, %v", rebuilt, err)
	}
	want := &State{Version: 1, Certificates: map[string]*Record{
		"shop": {
			Name:          "shop",
			Domains:       []string{"shop.example.com", "www.shop.example.com"},
			Version:       "20261121T160000Z-001",
			Serial:        "4a3f",
			NotBefore:     ptr(t0.Add(-24 * time.Hour)),
			NotAfter:      ptr(t0.AddDate(0, 0, 90)),
			Issuer:        "renewd test intermediate",
			RenewTime:     ptr(t0),
			LastAttempt:   ptr(t0),
			ARI:           &ARI{WindowStart: ptr(t1), WindowEnd: ptr(t1.Add(48 * time.Hour)), SelectedTime: ptr(t1.Add(time.Hour)), ExplanationURL: "https://ca.example/ari"},
			NextRetryTime: nil,
		},
		"blog": {
			Name:          "blog",
			Domains:       []string{},
			LastAttempt:   ptr(t0),
			RetryCount:    3,
			NextRetryTime: ptr(t0.Add(20 * time.Minute)),
			LastError:     "acme: 503",
		},
	}}
	if !reflect.DeepEqual(out, want) {
		g, _ := json.Marshal(out)
		w, _ := json.Marshal(want)
		t.Errorf("LoadState =\n%s\nwant\n%s", g, w)
	}
}

func TestSaveStateRejects(t *testing.T) {
	tests := []struct {
		desc string
		st   *State
	}{
		{desc: "nil state"},
		{desc: "future version", st: &State{Version: 2}},
		{desc: "nil record", st: &State{Certificates: map[string]*Record{"shop": nil}}},
		{desc: "invalid name", st: &State{Certificates: map[string]*Record{"a/b": {}}}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := openTest(t)
			if err := s.SaveState(tt.st); err == nil {
				t.Fatal("SaveState succeeded")
			}
			if _, err := os.Lstat(s.statePath()); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("state.json was written: %v", err)
			}
		})
	}
}

// storeWithLive returns a store with one live certificate, shop, and its
// version and serial.
func storeWithLive(t *testing.T) (*Store, string) {
	t.Helper()
	s := openTest(t)
	files, _ := newTestCA(t).issue(t, 0x4a3f, t0, "shop.example.com", "www.shop.example.com")
	return s, mustSave(t, s, "shop", files)
}

func TestLoadStateBadFile(t *testing.T) {
	tests := []struct {
		desc  string
		write func(t *testing.T, path string) // nil: no file
	}{
		{desc: "missing"},
		{desc: "garbage", write: content("not json at all \x00\xff")},
		{desc: "truncated", write: content(`{"version": 1, "certificates": {"shop": {"name": "sh`)},
		{desc: "empty", write: content("")},
		{desc: "array", write: content("[]")},
		{desc: "null", write: content("null")},
		{desc: "object without version", write: content("{}")},
		{desc: "string", write: content(`"state"`)},
		{desc: "future version", write: content(`{"version": 2, "certificates": {}}`)},
		{desc: "trailing garbage", write: content(`{"version": 1, "certificates": {}} {}`)},
		{desc: "record of the wrong type", write: content(`{"version": 1, "certificates": {"shop": 7}}`)},
		{desc: "null record", write: content(`{"version": 1, "certificates": {"shop": null}}`)},
		{desc: "hostile name", write: content(`{"version": 1, "certificates": {"../x": {"name": "../x"}}}`)},
		{desc: "bad time", write: content(`{"version": 1, "certificates": {"shop": {"not_after": "yesterday"}}}`)},
		{
			desc: "huge",
			write: func(t *testing.T, path string) {
				// Sparse: 64 MiB + 1 byte without writing them.
				content(`{"version": 1, "certificates": {}}`)(t, path)
				if err := os.Truncate(path, maxStateSize+1); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			desc: "a directory",
			write: func(t *testing.T, path string) {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			desc: "a symlink",
			write: func(t *testing.T, path string) {
				if err := os.Symlink("/etc/passwd", path); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s, version := storeWithLive(t)
			var before os.FileInfo
			if tt.write != nil {
				tt.write(t, s.statePath())
				before, _ = os.Lstat(s.statePath())
			}
			st, rebuilt, err := s.LoadState()
			if err != nil {
				t.Fatalf("LoadState: %v", err)
			}
			if !rebuilt {
				t.Error("rebuilt = false")
			}
			r := st.Certificates["shop"]
			if len(st.Certificates) != 1 || r == nil {
				t.Fatalf("rebuilt state = %+v, want shop only", st.Certificates)
			}
			if r.Version != version || r.Serial != "4a3f" || len(r.Domains) != 2 || r.NotAfter == nil {
				t.Errorf("rebuilt record = %+v", r)
			}
			if r.RetryCount != 0 || r.NextRetryTime != nil || r.LastError != "" {
				t.Errorf("rebuilt record has retry fields: %+v", r)
			}
			if _, err := os.Lstat(s.statePath()); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("state.json still there: %v", err)
			}
			aside := s.statePath() + ".corrupt-20261121T160000Z"
			if tt.write == nil {
				if _, err := os.Lstat(aside); err == nil {
					t.Error("a missing file was moved aside")
				}
				return
			}
			after, err := os.Lstat(aside)
			if err != nil {
				t.Fatalf("not moved aside: %v", err)
			}
			if !os.SameFile(before, after) {
				t.Error("the file moved aside is not the bad state.json")
			}
		})
	}
}

func content(s string) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoadStateAfterRebuild: saving the rebuilt state makes the next load a
// normal one, and a second corruption in the same second does not overwrite
// the first file moved aside.
func TestLoadStateAfterRebuild(t *testing.T) {
	s, _ := storeWithLive(t)
	for i, suffix := range []string{"", "-2", "-3"} {
		content(fmt.Sprintf("corrupt %d", i))(t, s.statePath())
		st, rebuilt, err := s.LoadState()
		if err != nil || !rebuilt {
			t.Fatalf("LoadState = rebuilt %v, %v", rebuilt, err)
		}
		aside := s.statePath() + ".corrupt-20261121T160000Z" + suffix
		if got := string(mustRead(t, aside)); got != fmt.Sprintf("corrupt %d", i) {
			t.Errorf("%s holds %q", aside, got)
		}
		if err := s.SaveState(st); err != nil {
			t.Fatal(err)
		}
		if _, rebuilt, err := s.LoadState(); err != nil || rebuilt {
			t.Fatalf("LoadState after SaveState = rebuilt %v, %v", rebuilt, err)
		}
	}
}

func TestLoadStateNoCertificates(t *testing.T) {
	s := openTest(t)
	st, rebuilt, err := s.LoadState()
	if err != nil || !rebuilt {
		t.Fatalf("LoadState = rebuilt %v, %v", rebuilt, err)
	}
	if st.Version != 1 || st.Certificates == nil || len(st.Certificates) != 0 {
		t.Errorf("state = %+v, want version 1 and an empty map", st)
	}
	content(`{"version": 1, "certificates": null}`)(t, s.statePath())
	st, rebuilt, err = s.LoadState()
	if err != nil || rebuilt || st.Certificates == nil {
		t.Errorf("LoadState of null certificates = %+v, rebuilt %v, %v", st, rebuilt, err)
	}
}

// TestSaveStateFaults fails each step of the atomic write of state.json:
// the old state must load unchanged, with no rebuild and no temporary file.
func TestSaveStateFaults(t *testing.T) {
	old := &State{Certificates: map[string]*Record{"shop": {Domains: []string{"shop.example.com"}, RetryCount: 2}}}
	next := &State{Certificates: map[string]*Record{"shop": {Domains: []string{"shop.example.com"}, RetryCount: 3}}}
	for _, step := range writeSteps {
		for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
			t.Run(step.desc+"/"+errno.Error(), func(t *testing.T) {
				s := openTest(t)
				if err := s.SaveState(old); err != nil {
					t.Fatal(err)
				}
				before := mustRead(t, s.statePath())
				s.fs = &faultFS{
					fail: func(op, path string) error {
						if step.match(op, path, s.Dir()) {
							return errno
						}
						return nil
					},
					check: func(op, path string) { checkModes(t, s.Dir()) },
				}
				if err := s.SaveState(next); !errors.Is(err, errno) {
					t.Fatalf("SaveState = %v, want %v", err, errno)
				}
				if after := mustRead(t, s.statePath()); !bytes.Equal(after, before) {
					t.Errorf("state.json changed:\n%s", after)
				}
				st, rebuilt, err := s.LoadState()
				if err != nil || rebuilt || st.Certificates["shop"].RetryCount != 2 {
					t.Errorf("LoadState = %+v, rebuilt %v, %v; want the old state", st, rebuilt, err)
				}
				if left := leftovers(t, s.Dir()); len(left) > 0 {
					t.Errorf("left behind: %v", left)
				}
			})
		}
	}
}

// TestMoveAsideFault: when the bad file cannot be moved aside, LoadState
// reports the I/O error instead of pretending.
func TestMoveAsideFault(t *testing.T) {
	s, _ := storeWithLive(t)
	content("corrupt")(t, s.statePath())
	s.fs = &faultFS{fail: func(op, path string) error {
		if op == "rename" {
			return syscall.EIO
		}
		return nil
	}}
	if _, _, err := s.LoadState(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("LoadState = %v, want EIO", err)
	}
	if got := string(mustRead(t, s.statePath())); got != "corrupt" {
		t.Errorf("state.json = %q", got)
	}
	if matches, _ := filepath.Glob(s.statePath() + ".corrupt-*"); len(matches) != 0 {
		t.Errorf("moved aside anyway: %v", matches)
	}
}

func TestPeekStateLeavesABadFileInPlace(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir(), "state.json")
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := s.PeekState()
	if err != nil {
		t.Fatalf("PeekState: %v", err)
	}
	if st == nil || st.Certificates == nil {
		t.Fatalf("PeekState returned %+v, want an empty rebuilt state", st)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "{broken" {
		t.Fatalf("state.json after PeekState = %q, %v; want it untouched", data, err)
	}
}
