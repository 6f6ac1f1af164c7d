// Package harness runs the real components renewd's end-to-end tests and
// its benchmark need, on loopback: the binaries built once, free ports,
// helper processes with their logs, Pebble and pebble-challtestsrv, nginx
// with a prefix of its own, an HTTPS client trusting the test CA, and a
// counting, rate-checking, rewriting proxy in front of Pebble. test/e2e
// wraps it in its own helper names; test/takeover, test/clients and
// test/bench use it directly.
//
// Functions that can fail take a TB and stop the test (or the benchmark)
// through it, registering what they start for cleanup, so neither caller
// re-implements the plumbing. Nothing here is a mock.
package harness

// TB is what the harness needs of a test: *testing.T satisfies it, and
// test/bench supplies its own (its Fatalf stops the run after cleaning up).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	// Cleanup registers f to run when the test or the run ends, last
	// registered first.
	Cleanup(f func())
	// TempDir is a new directory, removed at the end.
	TempDir() string
	Failed() bool
}
