package parallel

import (
	"sync/atomic"
	"testing"
)

// TestForEach: every index once, never more than workers at a time, and
// nothing to do is fine.
func TestForEach(t *testing.T) {
	for _, tt := range []struct{ n, workers int }{{0, 4}, {1, 4}, {100, 1}, {1000, 8}} {
		seen := make([]atomic.Int32, tt.n)
		var running, most atomic.Int32
		ForEach(tt.n, tt.workers, func(i int) {
			now := running.Add(1)
			for {
				m := most.Load()
				if now <= m || most.CompareAndSwap(m, now) {
					break
				}
			}
			seen[i].Add(1)
			running.Add(-1)
		})
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Fatalf("n=%d: index %d called %d times", tt.n, i, c)
			}
		}
		if m := most.Load(); int(m) > tt.workers {
			t.Errorf("n=%d: %d at a time, want at most %d", tt.n, m, tt.workers)
		}
	}
}
