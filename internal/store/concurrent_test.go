package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentUse runs SaveVersion, Live, Versions, Records and
// SaveRecords from many goroutines on one Store (run with -race).
// Afterwards every version exists, each live link points at one of them,
// every record reads back without a repair, and nothing temporary is left.
func TestConcurrentUse(t *testing.T) {
	s := openTest(t)
	ca := newTestCA(t)
	names := []string{"a", "b", "c"}
	const savers, saves, statesWorkers, stateRounds = 2, 4, 4, 10
	files := map[string]Files{}
	for i, name := range names {
		files[name], _ = ca.issue(t, int64(i+1), t0, name+".example.com")
	}

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for _, name := range names {
		for range savers {
			wg.Go(func() {
				for range saves {
					if _, err := s.SaveVersion(name, files[name]); err != nil {
						errs <- err
					}
					if _, _, err := s.Live(name); err != nil {
						errs <- err
					}
					if _, err := s.Versions(name); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	for w := range statesWorkers {
		wg.Go(func() {
			for i := range stateRounds {
				if _, _, err := s.Records(); err != nil {
					errs <- err
					return
				}
				name := fmt.Sprintf("w%d", w)
				if err := s.SaveRecord(&Record{Name: name, RetryCount: i, Domains: []string{name + ".example.com"}}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for _, name := range names {
		vs, err := s.Versions(name)
		if err != nil || len(vs) != savers*saves {
			t.Errorf("%s: %d versions (%v), want %d", name, len(vs), err, savers*saves)
		}
		_, v, err := s.Live(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(vs) > 0 && v != vs[len(vs)-1] {
			t.Errorf("%s: live is %s, want the newest %s", name, v, vs[len(vs)-1])
		}
	}
	recs, repairs, err := s.Records()
	if err != nil {
		t.Fatal(err)
	}
	for w := range statesWorkers {
		if r := recs[fmt.Sprintf("w%d", w)]; r == nil || r.RetryCount != stateRounds-1 {
			t.Errorf("record w%d = %+v, want the last write", w, r)
		}
	}
	for _, rp := range repairs {
		if rp.Reason != "missing" { // a, b, c have live versions and no records
			t.Errorf("repair %s", rp)
		}
	}
	if left := leftovers(t, s.Dir()); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	checkModes(t, s.Dir())
	if _, _, err := s.Live("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Live(nosuch) = %v", err)
	}
}

// TestTwoStoresSaveRecords: two Stores on one directory, as two renewd
// processes, save different certificates' records at once, each from two
// goroutines, while a read-only third store reads them all (run with
// -race). No update is lost, and the reader never sees a torn or missing
// file or a record going back in time.
func TestTwoStoresSaveRecords(t *testing.T) {
	dir := t.TempDir()
	var stores []*Store
	for range 2 {
		s, err := open(dir, osFS{}, fixedClock(t0))
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	reader, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 15
	var writers []string
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, s := range stores {
		for g := range 2 {
			names := []string{fmt.Sprintf("p%d-g%d-a", i, g), fmt.Sprintf("p%d-g%d-b", i, g)}
			writers = append(writers, names...)
			wg.Go(func() {
				for round := range rounds {
					batch := make([]*Record, 0, len(names))
					for _, n := range names {
						batch = append(batch, &Record{Name: n, RetryCount: round, LastError: fmt.Sprintf("round %d", round)})
					}
					if err := s.SaveRecords(batch); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	stop := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		seen := map[string]int{}
		for {
			recs, repairs, err := reader.Records()
			if err != nil || len(repairs) != 0 {
				errs <- fmt.Errorf("reader: %v, %v", repairs, err)
				return
			}
			for n, r := range recs {
				if r.RetryCount < seen[n] || r.LastError != fmt.Sprintf("round %d", r.RetryCount) {
					errs <- fmt.Errorf("reader saw %s at round %d (%q) after round %d", n, r.RetryCount, r.LastError, seen[n])
				}
				seen[n] = r.RetryCount
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-read
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	recs, repairs, err := stores[0].Records()
	if err != nil || len(repairs) != 0 {
		t.Fatalf("Records = %v, %v", repairs, err)
	}
	if len(recs) != len(writers) {
		t.Errorf("%d records, want %d", len(recs), len(writers))
	}
	for _, n := range writers {
		if r := recs[n]; r == nil || r.RetryCount != rounds-1 {
			t.Errorf("%s = %+v, want the last round %d", n, r, rounds-1)
		}
	}
	if left := leftovers(t, dir); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	checkModes(t, dir)
}
