package store

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
)

// step is one filesystem call of a recorded clean run, named so that it
// can be found again in another run: writeFiles writes its temporary
// files concurrently, so the n-th call of one run is not the n-th call of
// the next, but "the 2nd sync of state/.b.json.tmp-*" is.
type step struct {
	desc string // describe(...) plus "#n" for the n-th repeat
	key  string // describe(...)
	nth  int
	op   string
}

// stepsOf names every call of a recorded run.
func stepsOf(root string, ops []fsOp) []step {
	seen := map[string]int{}
	var out []step
	for _, o := range ops {
		key := describe(root, o)
		n := seen[key]
		seen[key]++
		desc := key
		if n > 0 {
			desc = fmt.Sprintf("%s#%d", key, n+1)
		}
		out = append(out, step{desc: desc, key: key, nth: n, op: o.op})
	}
	return out
}

// failStep fails the call that st names with errno, once.
func failStep(root string, st step, errno error) func(op, path string) error {
	var mu sync.Mutex
	seen := map[string]int{}
	return func(op, path string) error {
		key := describe(root, fsOp{op, path})
		mu.Lock()
		defer mu.Unlock()
		n := seen[key]
		seen[key]++
		if key == st.key && n == st.nth {
			return errno
		}
		return nil
	}
}

// killAt fails the call that st names and every call after it, as if the
// process had been killed there: nothing it would have done next, not
// even cleaning up, reaches the disk. Reads do not go through the
// filesystem seam and change nothing.
func killAt(root string, st step) func(op, path string) error {
	var mu sync.Mutex
	seen := map[string]int{}
	dead := false
	return func(op, path string) error {
		key := describe(root, fsOp{op, path})
		mu.Lock()
		defer mu.Unlock()
		n := seen[key]
		seen[key]++
		if dead || key == st.key && n == st.nth {
			dead = true
			return syscall.EIO
		}
		return nil
	}
}

// recordBatch is the batch the fault tests write: two records replaced,
// one new.
func recordBatch() []*Record {
	return []*Record{messyRecord("a"), messyRecord("b"), messyRecord("c")}
}

// setupRecordFaults opens a store holding old records of a and b, and
// returns their files' content.
func setupRecordFaults(t *testing.T) (*Store, map[string][]byte) {
	t.Helper()
	s := openTest(t)
	if err := s.SaveRecords([]*Record{{Name: "a", RetryCount: 1}, {Name: "b", RetryCount: 1}}); err != nil {
		t.Fatal(err)
	}
	return s, map[string][]byte{"a": mustRead(t, s.recordPath("a")), "b": mustRead(t, s.recordPath("b"))}
}

// recordBatchSteps records the calls of a clean recordBatch write and the
// files it leaves.
func recordBatchSteps(t *testing.T) ([]step, map[string][]byte) {
	t.Helper()
	s, _ := setupRecordFaults(t)
	rec := &faultFS{}
	s.fs = rec
	if err := s.SaveRecords(recordBatch()); err != nil {
		t.Fatal(err)
	}
	steps := stepsOf(s.Dir(), rec.ops)
	if len(steps) < 20 {
		t.Fatalf("only %d calls recorded: %v", len(steps), rec.ops)
	}
	newer := map[string][]byte{}
	for _, n := range []string{"a", "b", "c"} {
		newer[n] = mustRead(t, s.recordPath(n))
	}
	return steps, newer
}

// TestSaveRecordsFaults fails each call of a clean SaveRecords in turn,
// with EIO and with ENOSPC. After every failure each record holds its old
// content (c stays absent), no temporary or backup file is left, and no
// file or directory has a wider mode than intended at any call.
func TestSaveRecordsFaults(t *testing.T) {
	steps, _ := recordBatchSteps(t)
	for _, st := range steps {
		if st.op == "remove" {
			// Removing the backups once the batch is durable is best
			// effort: the batch succeeded, and a hidden .bak is ignored.
			continue
		}
		for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
			t.Run(st.desc+"/"+errno.Error(), func(t *testing.T) {
				s, old := setupRecordFaults(t)
				s.fs = &faultFS{
					fail:  failStep(s.Dir(), st, errno),
					check: func(op, path string) { checkModes(t, s.Dir()) },
				}
				if err := s.SaveRecords(recordBatch()); !errors.Is(err, errno) {
					t.Fatalf("SaveRecords = %v, want %v", err, errno)
				}
				for name, data := range old {
					if got := mustRead(t, s.recordPath(name)); string(got) != string(data) {
						t.Errorf("state/%s.json changed:\n%s", name, got)
					}
				}
				if _, err := os.Lstat(s.recordPath("c")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("state/c.json exists after a failed batch: %v", err)
				}
				if left := leftovers(t, s.Dir()); len(left) > 0 {
					t.Errorf("left behind: %v", left)
				}
				checkModes(t, s.Dir())
			})
		}
	}
}

// TestSaveRecordsKilled stops SaveRecords at each call as a kill would.
// Each record is then its old file or its new one, never a mix, it reads
// back without a repair, and the next SaveRecords succeeds.
func TestSaveRecordsKilled(t *testing.T) {
	steps, newer := recordBatchSteps(t)
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			s, old := setupRecordFaults(t)
			s.fs = &faultFS{
				fail:  killAt(s.Dir(), st),
				check: func(op, path string) { checkModes(t, s.Dir()) },
			}
			_ = s.SaveRecords(recordBatch())
			for _, name := range []string{"a", "b", "c"} {
				got, err := os.ReadFile(s.recordPath(name))
				switch {
				case errors.Is(err, os.ErrNotExist) && old[name] == nil:
				case err != nil:
					t.Errorf("state/%s.json: %v", name, err)
				case string(got) != string(old[name]) && string(got) != string(newer[name]):
					t.Errorf("state/%s.json is neither the old nor the new record:\n%s", name, got)
				}
			}
			s.fs = osFS{}
			if _, repairs, err := s.Records(); err != nil || len(repairs) != 0 {
				t.Errorf("Records after the kill = %v, %v", repairs, err)
			}
			if err := s.SaveRecords(recordBatch()); err != nil {
				t.Fatalf("SaveRecords after the kill: %v", err)
			}
			for name, data := range newer {
				if got := mustRead(t, s.recordPath(name)); string(got) != string(data) {
					t.Errorf("state/%s.json after the next save:\n%s", name, got)
				}
			}
		})
	}
}

// TestSaveRecordsDuplicateFaults: a batch naming a certificate twice
// fails as cleanly as any other.
func TestSaveRecordsDuplicateFaults(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
		t.Run(errno.Error(), func(t *testing.T) {
			s, old := setupRecordFaults(t)
			s.fs = &faultFS{fail: func(op, path string) error {
				if op == "sync" && path == s.stateRoot() {
					return errno
				}
				return nil
			}}
			err := s.SaveRecords([]*Record{{Name: "a", RetryCount: 2}, {Name: "c"}, {Name: "a", RetryCount: 3}})
			if !errors.Is(err, errno) {
				t.Fatalf("SaveRecords = %v, want %v", err, errno)
			}
			if got := mustRead(t, s.recordPath("a")); string(got) != string(old["a"]) {
				t.Errorf("state/a.json changed:\n%s", got)
			}
			if _, err := os.Lstat(s.recordPath("c")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state/c.json exists: %v", err)
			}
			if left := leftovers(t, s.Dir()); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}
