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
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped by -short")
		os.Exit(0)
	}
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

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
	for out, pkg := range map[string]string{
		"renewd":              "github.com/renewd/renewd/cmd/renewd",
		"pebble":              "github.com/letsencrypt/pebble/v2/cmd/pebble",
		"pebble-challtestsrv": "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv",
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, out), pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("build %s: %w", pkg, err)
		}
	}

	env.tls, err = newTestCA("renewd e2e TLS CA")
	if err != nil {
		return 0, err
	}
	env.tlsCAFile = filepath.Join(dir, "tls-ca.pem")
	if err := os.WriteFile(env.tlsCAFile, env.tls.certPEM, 0o644); err != nil {
		return 0, err
	}
	crash := exec.CommandContext(ctx, "go", "build", "-tags", "crashpoints", "-o", env.renewdCrash, "github.com/renewd/renewd/cmd/renewd")
	crash.Stderr = os.Stderr
	if err := crash.Run(); err != nil {
		return 0, fmt.Errorf("build renewd with crash points: %w", err)
	}
	stop, err := startChallTestSrv(dir)
	if err != nil {
		return 0, err
	}
	defer stop()
	return m.Run(), nil
}
