package store

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// immutable makes path immutable (chattr +i), which stops even root, for
// the rest of the test.
func immutable(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("chattr +i needs root; TestProbeFaults injects the same failures")
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("chattr +i %s: %v: %s (TestProbeFaults injects the same failures)", path, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v: %s", path, err, out)
		}
	})
}

func TestProbe(t *testing.T) {
	s := openTest(t)
	if err := s.Probe("shop"); err != nil {
		t.Fatalf("Probe on a good store: %v", err)
	}
	if p := perm(t, filepath.Join(s.archiveRoot(), "shop")); p != 0o700 {
		t.Errorf("archive/shop mode %#o, want 0700", p)
	}
	if err := s.Probe("shop"); err != nil {
		t.Errorf("second Probe: %v", err)
	}
	if left := leftovers(t, s.Dir()); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if err := s.Probe("../shop"); err == nil {
		t.Error("Probe(../shop) succeeded")
	}
	checkModes(t, s.Dir())
}

// TestProbeImmutable: a directory that mode bits call writable but that
// cannot be written fails the probe, naming it.
func TestProbeImmutable(t *testing.T) {
	tests := []struct {
		desc string
		dir  func(s *Store) string // made immutable
		want func(s *Store) string // named in the error
	}{
		{
			desc: "archive/<name>",
			dir:  func(s *Store) string { return filepath.Join(s.archiveRoot(), "shop") },
			want: func(s *Store) string { return "cannot write in " + filepath.Join(s.archiveRoot(), "shop") },
		},
		{
			desc: "live/",
			dir:  func(s *Store) string { return s.liveRoot() },
			want: func(s *Store) string { return "cannot write in " + s.liveRoot() },
		},
		{
			desc: "state/",
			dir:  func(s *Store) string { return s.stateRoot() },
			want: func(s *Store) string { return "cannot write in " + s.stateRoot() },
		},
		{
			desc: "archive/, before archive/<name> exists",
			dir:  func(s *Store) string { return s.archiveRoot() },
			want: func(s *Store) string { return filepath.Join(s.archiveRoot(), "shop") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := openTest(t)
			if !strings.HasPrefix(tt.desc, "archive/,") {
				if err := s.Probe("shop"); err != nil {
					t.Fatal(err)
				}
				// The shared directories are probed again once the
				// last probe is sharedProbeEvery old.
				s.now = fixedClock(t0.Add(sharedProbeEvery))
			}
			immutable(t, tt.dir(s))
			err := s.Probe("shop")
			if err == nil {
				t.Fatal("Probe succeeded on an immutable directory")
			}
			if !strings.Contains(err.Error(), tt.want(s)) || !errors.Is(err, syscall.EPERM) {
				t.Errorf("error %q does not name %q with EPERM", err, tt.want(s))
			}
			if left := leftovers(t, s.Dir()); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestProbeFaults fails each call of a clean Probe in turn, as a full
// disk, a read-only mount or an I/O error would: every one fails the
// probe with an error that names a directory of the store.
func TestProbeFaults(t *testing.T) {
	s := openTest(t)
	rec := &faultFS{}
	s.fs = rec
	if err := s.Probe("shop"); err != nil {
		t.Fatal(err)
	}
	steps := stepsOf(s.Dir(), rec.ops)
	if len(steps) < 13 { // mkdir, then open, write, close, remove in each of 3 directories

		t.Fatalf("only %d calls: %v", len(steps), steps)
	}
	for _, st := range steps {
		for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC, syscall.EROFS} {
			t.Run(st.desc+"/"+errno.Error(), func(t *testing.T) {
				s := openTest(t)
				s.fs = &faultFS{fail: failStep(s.Dir(), st, errno), check: func(op, path string) { checkModes(t, s.Dir()) }}
				err := s.Probe("shop")
				if !errors.Is(err, errno) {
					t.Fatalf("Probe = %v, want %v", err, errno)
				}
				if !strings.Contains(err.Error(), s.Dir()+"/") {
					t.Errorf("error %q names no directory of the store", err)
				}
				// A probe file whose removal failed cannot be removed; it is
				// hidden, so listings ignore it.
				if left := leftovers(t, s.Dir()); len(left) > 0 && st.op != "remove" {
					t.Errorf("left behind: %v", left)
				}
			})
		}
	}
}

// TestProbeSharedOncePerWindow: live/ and state/ are probed once per
// sharedProbeEvery while they pass, archive/<name> every time, and a
// failed probe is not remembered as a pass.
func TestProbeSharedOncePerWindow(t *testing.T) {
	s := openTest(t)
	rec := &faultFS{}
	s.fs = rec
	probes := func() (archive, shared int) {
		for _, op := range rec.ops {
			if op.op != "open" {
				continue
			}
			switch filepath.Dir(op.path) {
			case filepath.Join(s.archiveRoot(), "shop"):
				archive++
			case s.liveRoot(), s.stateRoot():
				shared++
			}
		}
		rec.ops = nil
		return archive, shared
	}
	for i, tt := range []struct {
		at              time.Duration
		archive, shared int
	}{
		{0, 1, 2},
		{sharedProbeEvery - time.Second, 1, 0},
		{sharedProbeEvery, 1, 2},
		{sharedProbeEvery + time.Second, 1, 0},
		{-time.Minute, 1, 2}, // the clock went back: probe
	} {
		s.now = fixedClock(t0.Add(tt.at))
		if err := s.Probe("shop"); err != nil {
			t.Fatal(err)
		}
		if a, sh := probes(); a != tt.archive || sh != tt.shared {
			t.Errorf("probe %d at +%v: %d archive and %d shared probe files, want %d and %d", i, tt.at, a, sh, tt.archive, tt.shared)
		}
	}
	immutable(t, s.stateRoot())
	s.now = fixedClock(t0.Add(time.Hour))
	if err := s.Probe("shop"); err == nil {
		t.Fatal("Probe passed an immutable state/")
	}
	if !s.sharedProbeDue() {
		t.Error("a failed probe counts as a pass: the next Probe would not look at state/")
	}
}
