//go:build crashpoints

package crashpoint

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

var (
	at        = os.Getenv("RENEWD_CRASH_AT")
	pauseAt   = os.Getenv("RENEWD_PAUSE_AT")
	pauseFile = os.Getenv("RENEWD_PAUSE_FILE")
)

// Hit kills the process with SIGKILL when name is RENEWD_CRASH_AT: no
// deferred function, no flush, exactly like a power cut for the process.
//
// When name is RENEWD_PAUSE_AT instead, Hit creates RENEWD_PAUSE_FILE and
// waits there until the process gets SIGTERM or SIGINT (at most two
// minutes), then returns: a test can stop renewd at exactly that step and
// watch the shutdown finish or roll back the work in flight. The signal
// still reaches the process's own handlers.
func Hit(name string) {
	switch {
	case name == "":
	case name == at:
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not delivered synchronously; never return
	case name == pauseAt:
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(sig)
		if pauseFile != "" {
			_ = os.WriteFile(pauseFile, []byte(name+"\n"), 0o600)
		}
		select {
		case <-sig:
		case <-time.After(2 * time.Minute):
		}
	}
}

// clockOffset shifts Now: RENEWD_TEST_CLOCK_OFFSET, a Go duration such as
// "74h", read once at start. Zero when unset or unparsable.
var clockOffset, _ = time.ParseDuration(os.Getenv("RENEWD_TEST_CLOCK_OFFSET"))

// Now is the wall clock shifted by RENEWD_TEST_CLOCK_OFFSET: the
// end-to-end tests move renewd's renewal decisions days ahead without
// waiting for them.
func Now() time.Time { return time.Now().Add(clockOffset) }
