// Package parallel runs independent pieces of work a few at a time: the
// reads of a pass over thousands of certificates spend their time in
// system calls, which overlap well.
package parallel

import "sync"

// ForEach calls f(0) ... f(n-1), at most workers at a time, and returns
// when all have returned.
func ForEach(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
