// Package harness runs the real components renewd's end-to-end tests and
// its benchmark need, on loopback: the binaries built once (also with
// build tags), free ports (also free on more loopback addresses, where a
// cluster's nodes listen), helper processes with their logs, Pebble and
// pebble-challtestsrv, nginx with a prefix of its own, an etcd cluster
// whose members can be stopped and started again (or one that takes TLS
// clients with a client certificate only), TCP links that can be cut, an
// HTTPS client trusting the test CA, a counting, rate-checking, rewriting
// proxy in front of Pebble, and the renewd CLI run as an operator runs it.
// test/e2e wraps it in its own helper names; test/cluster, test/takeover,
// test/clients and test/bench use it directly.
//
// Functions that can fail take a TB and stop the test (or the benchmark)
// through it, registering what they start for cleanup, so no caller
// re-implements the plumbing; what a TestMain starts for every test takes
// a MainTB. Nothing here is a mock.
package harness

// TB is what the harness needs of a test: *testing.T satisfies it, a
// TestMain uses a MainTB, and test/bench supplies its own (its Fatalf
// stops the run after cleaning up).
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
