//go:build crashpoints

package crashpoint

import (
	"errors"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"
)

var (
	at        = os.Getenv("RENEWD_CRASH_AT")
	pauseAt   = os.Getenv("RENEWD_PAUSE_AT")
	pauseFile = os.Getenv("RENEWD_PAUSE_FILE")
	// armFile, when set, arms RENEWD_CRASH_AT and RENEWD_PAUSE_AT only
	// while it exists: a cluster test lets a daemon run its first
	// renewals normally, then arms the step it is about.
	armFile = os.Getenv("RENEWD_ARM_FILE")
	// untilRemoved makes a pause end when RENEWD_PAUSE_FILE is removed
	// instead of on SIGTERM: a test can SIGSTOP the paused process, then
	// remove the file and SIGCONT it, and it goes on by itself, as a
	// process stalled by the kernel or a hypervisor does.
	untilRemoved = os.Getenv("RENEWD_PAUSE_UNTIL_REMOVED") != ""
)

// Hit kills the process with SIGKILL when name is RENEWD_CRASH_AT: no
// deferred function, no flush, exactly like a power cut for the process.
//
// When name is RENEWD_PAUSE_AT instead, Hit creates RENEWD_PAUSE_FILE and
// waits there until the process gets SIGTERM or SIGINT (at most two
// minutes), then returns: a test can stop renewd at exactly that step and
// watch the shutdown finish or roll back the work in flight. The signal
// still reaches the process's own handlers. With RENEWD_PAUSE_UNTIL_REMOVED
// set, the pause ends when the test removes RENEWD_PAUSE_FILE instead.
//
// With RENEWD_ARM_FILE set, both act only while that file exists.
func Hit(name string) {
	if name == "" || !armed() {
		return
	}
	switch name {
	case at:
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not delivered synchronously; never return
	case pauseAt:
		if untilRemoved {
			pauseUntilRemoved(name)
			return
		}
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

func armed() bool {
	if armFile == "" {
		return true
	}
	_, err := os.Stat(armFile)
	return err == nil
}

// pauseUntilRemoved writes the pause file and waits (at most two minutes)
// until it is gone.
func pauseUntilRemoved(name string) {
	if pauseFile == "" {
		return
	}
	_ = os.WriteFile(pauseFile, []byte(name+"\n"), 0o600)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(pauseFile); errors.Is(err, fs.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clockOffset shifts Now: RENEWD_TEST_CLOCK_OFFSET, a Go duration such as
// "74h", read once at start. Zero when unset or unparsable.
var clockOffset, _ = time.ParseDuration(os.Getenv("RENEWD_TEST_CLOCK_OFFSET"))

// Now is the wall clock shifted by RENEWD_TEST_CLOCK_OFFSET: the
// end-to-end tests move renewd's renewal decisions days ahead without
// waiting for them.
func Now() time.Time { return time.Now().Add(clockOffset) }
