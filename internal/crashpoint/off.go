//go:build !crashpoints

package crashpoint

import "time"

// Hit does nothing: this binary was built without crash points.
func Hit(string) {}

// Now is the wall clock: only a test build can shift it.
func Now() time.Time { return time.Now() }
