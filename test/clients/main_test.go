// Package clients compares `renewd check` with real TLS clients. One real
// nginx from Debian's packages serves a matrix of scenarios, one server
// block per scenario on its own loopback port, each built with
// internal/testpki: broken chains, key usages, key identifiers, names,
// dates, stapling, protocols and cipher suites, an ECDSA and an RSA
// certificate side by side. openssl s_client -verify_return_error, curl,
// gnutls-cli, Python's ssl, Java 17 and Go's crypto/tls, each trusting
// only the test root, connect to every scenario, and so does the built
// renewd binary.
//
// The rule under test is the promise in docs/check.md: renewd never passes
// a server that one of these clients rejects, and it fails a server every
// client accepts only under a compatibility rule documented there. A
// missing client is a failure, never a skip (scripts/deps.sh installs
// them); `go test -short` skips the package on purpose. nginx, the free
// ports and the build come from the shared test harness (test/harness).
package clients

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/renewd/renewd/test/harness"
)

// env is what TestMain prepares.
var env struct {
	dir    string // scratch directory for the whole run
	renewd string // the built binary
}

func TestMain(m *testing.M) { harness.Main(m, "clients", setup) }

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "renewd-clients-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	env.dir = dir
	env.renewd = filepath.Join(dir, "renewd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := harness.Build(ctx, dir, map[string]string{"renewd": harness.RenewdPackage}); err != nil {
		return 0, err
	}
	return m.Run(), nil
}
