//go:build bench

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/renewd/renewd/test/harness"
)

// benchTB is the harness's TB for a benchmark run: a failure stops the run
// after stopping what it started, cleanups run at exit, temporary
// directories live in the work directory.
type benchTB struct {
	work string
	n    atomic.Int32
}

func (*benchTB) Helper()                           {}
func (*benchTB) Fatalf(format string, args ...any) { fatalf(format, args...) }
func (*benchTB) Logf(format string, args ...any)   { logf(format, args...) }
func (*benchTB) Cleanup(f func())                  { atExit(f) }
func (*benchTB) Failed() bool                      { return false }
func (b *benchTB) TempDir() string {
	return mkdir(b.work, "tmp", fmt.Sprintf("%03d", b.n.Add(1)))
}

// ca is the test CA environment: challtestsrv for DNS and one Pebble, with
// a fresh proxy in front of it for each client run.
type ca struct {
	tb       *benchTB
	tls      *harness.TLSCA
	tlsCA    string // PEM file of tls: ACME clients trust Pebble's HTTPS with it
	chall    *harness.ChallTestSrv
	pebble   *harness.Pebble
	rootFile string // Pebble's root, for renewd's trust.extra_roots
	httpPort int    // where Pebble sends HTTP-01 validation requests
}

// startCA starts pebble-challtestsrv (every name resolves to 127.0.0.1) and
// Pebble with PEBBLE_VA_NOSLEEP=1, no nonce rejection, Retry-After 1 s, no
// authorization reuse and one 90-day profile, so that every client gets
// the same kind of certificate without naming a profile.
func startCA(bin, dir string) *ca {
	tb := &benchTB{work: dir}
	tls, err := harness.NewTLSCA("renewd bench TLS CA")
	if err != nil {
		fatalf("TLS CA: %v", err)
	}
	c := &ca{tb: tb, tls: tls, tlsCA: filepath.Join(dir, "tls-ca.pem")}
	mustWrite(c.tlsCA, tls.CertPEM, 0o644)
	chall, err := harness.StartChallTestSrv(filepath.Join(bin, "pebble-challtestsrv"), dir)
	if err != nil {
		fatalf("%v", err)
	}
	c.chall = chall
	atExit(chall.Proc.Stop)
	c.pebble = harness.StartPebble(tb, harness.PebbleOptions{
		Bin: filepath.Join(bin, "pebble"), TLS: tls, DNSAddr: chall.DNSAddr,
		NonceReject: 0, Profiles: map[string]int{"default": 7776000}, HTTPIPs: clusterIPs[1:],
	})
	c.rootFile, c.httpPort = c.pebble.RootFile, c.pebble.HTTPPort
	return c
}

// proxy is a new proxy in front of Pebble with o. Every client goes
// through one: it counts the requests and keeps Pebble alive (see
// harness.ProxyOptions.GuardPebbleLocks).
func (c *ca) proxy(o harness.ProxyOptions) *harness.Proxy {
	o.TLS, o.GuardPebbleLocks = c.tls, true
	return harness.StartProxy(c.tb, c.pebble, o)
}

func (c *ca) pebblePid() int { return c.pebble.Proc.Cmd.Process.Pid }

// readFile is os.ReadFile, "" on error.
func readFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}
