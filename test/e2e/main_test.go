// Package e2e runs the built renewd binary as a user would, against Pebble
// and pebble-challtestsrv (the versions pinned as go.mod tools) and a real
// nginx. TestMain builds everything once; each test starts its own Pebble
// with the knobs it needs, so tests run in parallel without sharing a CA.
//
// Nothing here is mocked but the faults Pebble cannot make, which come from
// a small rewriting proxy (proxy_test.go). A missing component is a failure,
// never a skip; `go test -short` skips the package on purpose.
package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/renewd/renewd/test/harness"
)

// env is what TestMain prepares for every test.
var env struct {
	bin          string // directory with renewd, pebble, pebble-challtestsrv
	renewd       string
	renewdCrash  string  // built with -tags crashpoints: RENEWD_CRASH_AT kills it at a step
	tls          *testCA // signs Pebble's and the proxy's HTTPS certificates
	tlsCAFile    string  // PEM of tls, for acme.ca_certificates
	dnsAddr      string  // challtestsrv DNS, 127.0.0.1:port
	challMgmtURL string  // challtestsrv management API
}

func TestMain(m *testing.M) { harness.Main(m, "e2e", setup) }

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "renewd-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	env.bin = dir
	env.renewd = filepath.Join(dir, "renewd")
	env.renewdCrash = filepath.Join(dir, "renewd-crash")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := harness.Build(ctx, dir, harness.ACMEBinaries()); err != nil {
		return 0, err
	}
	if err := harness.BuildTags(ctx, dir, "crashpoints", map[string]string{"renewd-crash": harness.RenewdPackage}); err != nil {
		return 0, err
	}

	env.tls, err = newTestCA("renewd e2e TLS CA")
	if err != nil {
		return 0, err
	}
	env.tlsCAFile = filepath.Join(dir, "tls-ca.pem")
	if err := os.WriteFile(env.tlsCAFile, env.tls.certPEM, 0o644); err != nil {
		return 0, err
	}
	stop, err := startChallTestSrv(dir)
	if err != nil {
		return 0, err
	}
	defer stop()
	return m.Run(), nil
}
