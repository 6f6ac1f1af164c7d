package cluster

import "time"

// backoff is the delay before the next attempt at something that failed
// (following etcd, registering, reporting a verdict, serving a token): a
// second at first, doubled after each failure up to max, a second again
// after a success.
type backoff struct {
	delay, max time.Duration
}

func newBackoff(max time.Duration) backoff { return backoff{delay: time.Second, max: max} }

// failed doubles the delay, up to max.
func (b *backoff) failed() { b.delay = min(2*b.delay, b.max) }

// reset sets the delay back to a second.
func (b *backoff) reset() { b.delay = time.Second }
