//go:build bench

package main

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// genCA is a throwaway root and intermediate for generated certificates,
// so that chain.pem holds one intermediate as a real CA's does. testpki
// panics if it cannot make them, which only a broken crypto/rand causes.
type genCA struct {
	root, inter *testpki.Cert
	rootFile    string
}

func newGenCA(dir string) *genCA {
	now := time.Now()
	ca := func(serial int64, cn string) []testpki.Option {
		return []testpki.Option{testpki.CN(cn), testpki.Serial(serial), testpki.KeyUsage(x509.KeyUsageCertSign),
			testpki.Validity(now.Add(-100*24*time.Hour), now.Add(365*24*time.Hour))}
	}
	b := testpki.NewPanicking(now)
	root := b.Root(ca(1, "renewd bench generated root")...)
	g := &genCA{root: root, inter: b.Issue(root, ca(2, "renewd bench generated intermediate")...), rootFile: filepath.Join(dir, "generated-root.pem")}
	mustWrite(g.rootFile, testpki.PEM(root), 0o644)
	return g
}

// certYAML is a domains.d file like the renew-all benchmark's.
func certYAML(domain string, port int) []byte {
	return []byte(fmt.Sprintf("domains: [%s]\nchallenge:\n  type: http-01\n  http01: {listen: \"127.0.0.1:%d\"}\n", domain, port))
}

func writeGlobal(path, storage, directory, tlsCA, rootFile string) {
	mustWrite(path, []byte(fmt.Sprintf(`storage: %s
acme:
  directory: %s
  email: bench-generated@example.com
  ca_certificates: [%s]
trust:
  extra_roots: [%s]
`, storage, directory, tlsCA, rootFile)), 0o644)
}

// The generated storage is written by hand in the on-disk layout the first
// release wrote and every later one reads or migrates (docs/storage.md):
// state.json, archive/<name>/<version>/, live/<name> -> that version. Both
// the binary under test and the "before" one read it, whatever the store
// package of this tree does.

// genRecord is a record of state.json, version 1.
type genRecord struct {
	Name          string     `json:"name"`
	Domains       []string   `json:"domains"`
	Version       string     `json:"version,omitempty"`
	Serial        string     `json:"serial,omitempty"`
	NotBefore     *time.Time `json:"not_before"`
	NotAfter      *time.Time `json:"not_after"`
	Issuer        string     `json:"issuer,omitempty"`
	RenewTime     *time.Time `json:"renew_time"`
	LastAttempt   *time.Time `json:"last_attempt"`
	RetryCount    int        `json:"retry_count"`
	NextRetryTime *time.Time `json:"next_retry_time"`
	LastError     string     `json:"last_error,omitempty"`
	LastFailure   *time.Time `json:"last_failure,omitempty"`
	ARI           *genARI    `json:"ari,omitempty"`
}

type genARI struct {
	WindowStart  *time.Time `json:"window_start"`
	WindowEnd    *time.Time `json:"window_end"`
	SelectedTime *time.Time `json:"selected_time"`
	NextPoll     *time.Time `json:"next_poll"`
}

func writeState(storage string, recs map[string]*genRecord) {
	data, err := json.Marshal(map[string]any{"version": 1, "certificates": recs})
	if err != nil {
		fatalf("%v", err)
	}
	mustWrite(filepath.Join(storage, "state.json"), data, 0o600)
}

// writeVersion stores a version of name and points live/<name> at it.
func writeVersion(storage, name, version string, leafPEM, chainPEM, keyPEM []byte) {
	dir := filepath.Join(storage, "archive", name, version)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fatalf("%v", err)
	}
	for f, data := range map[string][]byte{"cert.pem": leafPEM, "chain.pem": chainPEM, "fullchain.pem": append(append([]byte{}, leafPEM...), chainPEM...)} {
		mustWrite(filepath.Join(dir, f), data, 0o644)
	}
	mustWrite(filepath.Join(dir, "privkey.pem"), keyPEM, 0o600)
	if err := os.MkdirAll(filepath.Join(storage, "live"), 0o700); err != nil {
		fatalf("%v", err)
	}
	if err := os.Symlink(filepath.Join("..", "archive", name, version), filepath.Join(storage, "live", name)); err != nil {
		fatalf("%v", err)
	}
}

// ariFor is a renewal window the way a CA sends one for a 90-day
// certificate (two days, around two thirds of the lifetime), selected in
// the middle and polled again in 6 hours: nothing due, nothing to ask.
func ariFor(notBefore time.Time, now time.Time) *genARI {
	start := notBefore.Add(59 * 24 * time.Hour).UTC().Truncate(time.Second)
	end := start.Add(48 * time.Hour)
	sel := start.Add(24 * time.Hour)
	next := now.Add(6 * time.Hour).UTC().Truncate(time.Second)
	return &genARI{WindowStart: &start, WindowEnd: &end, SelectedTime: &sel, NextPoll: &next}
}

func ptr[T any](v T) *T { return &v }

// genIssued writes a renewd setup with n certificates stored (live/ ->
// archive/ versions, state.json from the leaves), issued by a throwaway CA
// 10 days ago, none of them due. It returns the config file.
func genIssued(dir string, n int, c *ca) string {
	g := newGenCA(dir)
	cfgFile, storage := filepath.Join(dir, "renewd.yaml"), filepath.Join(dir, "storage")
	writeGlobal(cfgFile, storage, c.pebble.DirURL, c.tlsCA, g.rootFile)
	now := time.Now().UTC()
	nb := now.Add(-10 * 24 * time.Hour).Truncate(time.Second)
	na := nb.Add(90 * 24 * time.Hour)
	version := nb.Format("20060102T150405Z") + "-000"
	recs := map[string]*genRecord{}
	for i := range n {
		name, domain := fmt.Sprintf("c%05d", i+1), fmt.Sprintf("idle-%05d.bench.test", i+1)
		mustWrite(filepath.Join(dir, "domains.d", name+".yaml"), certYAML(domain, c.httpPort), 0o644)
		leaf := testpki.NewPanicking(now).Issue(g.inter, testpki.CN(domain), testpki.Names(domain), testpki.Validity(nb, na))
		writeVersion(storage, name, version, testpki.PEM(leaf), testpki.PEM(g.inter), leaf.KeyPEM())
		recs[name] = &genRecord{Name: name, Domains: []string{domain}, Version: version, Serial: leaf.Cert.SerialNumber.Text(16),
			NotBefore: ptr(nb), NotAfter: ptr(na), Issuer: leaf.Cert.Issuer.CommonName, RenewTime: ptr(nb), LastAttempt: ptr(nb),
			ARI: ariFor(nb, now)}
	}
	writeState(storage, recs)
	return cfgFile
}

// genState writes a renewd setup with n configured certificates and a
// state.json for them (no live/ files: `status` and the scheduling pass
// read the state only). Issue dates are spread over 50 days, so some
// certificates are older than others; one in a hundred had a failed
// renewal and waits for its retry. None is due.
func genState(dir string, n int, c *ca) string {
	cfgFile, storage := filepath.Join(dir, "renewd.yaml"), filepath.Join(dir, "storage")
	writeGlobal(cfgFile, storage, c.pebble.DirURL, c.tlsCA, c.rootFile)
	now := time.Now().UTC().Truncate(time.Second)
	recs := map[string]*genRecord{}
	for i := range n {
		name, domain := fmt.Sprintf("c%05d", i+1), fmt.Sprintf("plan-%05d.bench.test", i+1)
		mustWrite(filepath.Join(dir, "domains.d", name+".yaml"), certYAML(domain, c.httpPort), 0o644)
		age := time.Duration(i%50) * 24 * time.Hour // 0..49 days: the 2/3 point (60 days) is ahead
		nb := now.Add(-age)
		na := nb.Add(90 * 24 * time.Hour)
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
		rec := &genRecord{Name: name, Domains: []string{domain}, Serial: serial.Text(16),
			NotBefore: ptr(nb), NotAfter: ptr(na), Issuer: "Pebble Intermediate CA 0badc0de",
			Version: nb.Format("20060102T150405Z") + "-000", RenewTime: ptr(nb), LastAttempt: ptr(nb), ARI: ariFor(nb, now)}
		if i%100 == 99 {
			rec.LastAttempt, rec.LastFailure, rec.NextRetryTime = ptr(now.Add(-time.Hour)), ptr(now.Add(-time.Hour)), ptr(now.Add(4*time.Hour))
			rec.RetryCount = 1
			rec.LastError = "acme: error: 400 :: urn:ietf:params:acme:error:connection :: generated failure"
		}
		recs[name] = rec
	}
	writeState(storage, recs)
	return cfgFile
}

// genDue writes a renewd setup with n configured certificates, none due
// yet, each of which fails before its order once due: its HTTP-01 webroot
// does not exist. makeDue then changes every certificate's domains, which
// makes all of them due at once (and never asked about at the CA: ARI does
// not apply to a certificate whose names changed). A pass over it does
// what a pass with n certificates due does to the records, one failure
// record per certificate, without the CA. No live/ files.
func genDue(dir string, n int, c *ca) (cfgFile string, makeDue func()) {
	cfgFile, storage := filepath.Join(dir, "renewd.yaml"), filepath.Join(dir, "storage")
	writeGlobal(cfgFile, storage, c.pebble.DirURL, c.tlsCA, c.rootFile)
	now := time.Now().UTC().Truncate(time.Second)
	recs := map[string]*genRecord{}
	missing := filepath.Join(dir, "no-such-webroot")
	write := func(name, domain string) {
		mustWrite(filepath.Join(dir, "domains.d", name+".yaml"), []byte(fmt.Sprintf(
			"domains: [%s]\nchallenge:\n  type: http-01\n  http01: {webroot: %s}\n", domain, missing)), 0o644)
	}
	for i := range n {
		name, domain := fmt.Sprintf("c%05d", i+1), fmt.Sprintf("due-%05d.bench.test", i+1)
		write(name, domain)
		nb := now.Add(-time.Duration(i%50) * 24 * time.Hour)
		na := nb.Add(90 * 24 * time.Hour)
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
		recs[name] = &genRecord{Name: name, Domains: []string{domain}, Serial: serial.Text(16), NotBefore: ptr(nb), NotAfter: ptr(na),
			Issuer: "Pebble Intermediate CA 0badc0de", Version: nb.Format("20060102T150405Z") + "-000", RenewTime: ptr(nb), LastAttempt: ptr(nb),
			ARI: ariFor(nb, now)}
	}
	writeState(storage, recs)
	return cfgFile, func() {
		for i := range n {
			write(fmt.Sprintf("c%05d", i+1), fmt.Sprintf("moved-%05d.bench.test", i+1))
		}
	}
}
