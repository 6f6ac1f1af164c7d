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
