// Package takeover tests taking over servers people already run: the
// built renewd binary imports what Debian's real certbot made against
// Pebble, an acme.sh directory in acme.sh's own layout and a BaoTa panel
// tree served by a real nginx, and audits a real nginx.
//
// The plumbing is the shared test harness (test/harness). TestMain builds
// renewd, Pebble and pebble-challtestsrv once (the versions pinned as
// go.mod tools) and starts challtestsrv; each test starts its own Pebble
// and nginx on free loopback ports. Pebble's log counts the orders
// placed, so a test proves an import ordered nothing. A missing component
// (certbot, nginx, openssl) is a failure, never a skip; `go test -short`
// skips the package on purpose.
package takeover

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
	bin       string // directory with renewd, pebble, pebble-challtestsrv
	renewd    string
	tls       *harness.TLSCA // signs Pebble's HTTPS certificate
	tlsCAFile string         // PEM of tls: acme.ca_certificates, certbot's REQUESTS_CA_BUNDLE
	dnsAddr   string         // challtestsrv DNS: every name is 127.0.0.1
}

func TestMain(m *testing.M) { harness.Main(m, "takeover", setup) }

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "renewd-takeover-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	env.bin = dir
	env.renewd = filepath.Join(dir, "renewd")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := harness.Build(ctx, dir, harness.ACMEBinaries()); err != nil {
		return 0, err
	}
	if env.tls, err = harness.NewTLSCA("renewd takeover TLS CA"); err != nil {
		return 0, err
	}
	env.tlsCAFile = filepath.Join(dir, "tls-ca.pem")
	if err := os.WriteFile(env.tlsCAFile, env.tls.CertPEM, 0o644); err != nil {
		return 0, err
	}
	chall, err := harness.StartChallTestSrv(filepath.Join(dir, "pebble-challtestsrv"), dir)
	if err != nil {
		return 0, err
	}
	defer chall.Proc.Stop()
	env.dnsAddr = chall.DNSAddr
	return m.Run(), nil
}
