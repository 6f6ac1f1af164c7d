// Package crashpoint lets the end-to-end tests kill renewd with SIGKILL at
// a named step of a renewal, to prove that a crash anywhere leaves a
// complete live version, a parseable state and a working nginx (the
// invariants in docs/crash-safety.md).
//
// Hit is a no-op in normal builds, and Now is time.Now. Only a binary built with
// `-tags crashpoints` reads RENEWD_CRASH_AT, and kills itself when Hit is
// called with that name, or pauses at RENEWD_PAUSE_AT until it gets
// SIGTERM (for shutdown tests) or, with RENEWD_PAUSE_UNTIL_REMOVED, until
// the test removes RENEWD_PAUSE_FILE (for SIGSTOP/SIGCONT tests); with
// RENEWD_ARM_FILE set, crash and pause act only while that file exists.
// It also shifts Now, the clock of renewal
// decisions, by RENEWD_TEST_CLOCK_OFFSET (for tests of what happens days
// later). Released binaries cannot be made to crash, pause or time-travel
// this way.
package crashpoint
