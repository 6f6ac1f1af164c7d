//go:build crashpoints

package crashpoint

import (
	"os"
	"syscall"
)

var at = os.Getenv("RENEWD_CRASH_AT")

// Hit kills the process with SIGKILL when name is RENEWD_CRASH_AT: no
// deferred function, no flush, exactly like a power cut for the process.
func Hit(name string) {
	if name != "" && name == at {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not delivered synchronously; never return
	}
}
