//go:build bench

package main

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"path/filepath"
	"time"

	"github.com/renewd/renewd/internal/store"
	"github.com/renewd/renewd/internal/testpki"
)

// genCA is a throwaway root and intermediate for generated certificates,
// so that chain.pem holds one intermediate as a real CA's does.
type genCA struct {
	root, inter *testpki.Cert
	rootFile    string
}

func newGenCA(dir string) *genCA {
	root := newTestCA("renewd bench generated root")
	// The root's own validity starts an hour ago; the intermediate only
	// needs to be signed by it.
	now := time.Now()
	inter := testpki.NewPanicking(now).Issue(root, testpki.CN("renewd bench generated intermediate"), testpki.Serial(2),
		testpki.KeyUsage(x509.KeyUsageCertSign), testpki.Validity(now.Add(-100*24*time.Hour), now.Add(365*24*time.Hour)))
	g := &genCA{root: root, inter: inter, rootFile: filepath.Join(dir, "generated-root.pem")}
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

// ariFor is a renewal window the way a CA sends one for a 90-day
// certificate (two days, around two thirds of the lifetime), selected in
// the middle and polled again in 6 hours: nothing due, nothing to ask.
func ariFor(notBefore time.Time, now time.Time) *store.ARI {
	start := notBefore.Add(59 * 24 * time.Hour).UTC().Truncate(time.Second)
	end := start.Add(48 * time.Hour)
	sel := start.Add(24 * time.Hour)
	next := now.Add(6 * time.Hour).UTC().Truncate(time.Second)
	return &store.ARI{WindowStart: &start, WindowEnd: &end, SelectedTime: &sel, NextPoll: &next}
}

// genIssued writes a renewd setup with n certificates stored as renewd
// stores them (live/ -> archive/ versions written by the store package,
// one record per certificate from the leaves), issued by a throwaway CA 10 days ago, none
// of them due. It returns the config file.
func genIssued(dir string, n int, c *ca) string {
	g := newGenCA(dir)
	cfgFile, storage := filepath.Join(dir, "renewd.yaml"), filepath.Join(dir, "storage")
	writeGlobal(cfgFile, storage, c.dirURL, c.tlsCA, g.rootFile)
	st, err := store.Open(storage)
	if err != nil {
		fatalf("store: %v", err)
	}
	now := time.Now().UTC()
	nb := now.Add(-10 * 24 * time.Hour).Truncate(time.Second)
	na := nb.Add(90 * 24 * time.Hour)
	var state []*store.Record
	for i := range n {
		name, domain := fmt.Sprintf("c%05d", i+1), fmt.Sprintf("idle-%05d.bench.test", i+1)
		mustWrite(filepath.Join(dir, "domains.d", name+".yaml"), certYAML(domain, c.httpPort), 0o644)
		leaf := testpki.NewPanicking(now).Issue(g.inter, testpki.CN(domain), testpki.Names(domain), testpki.Validity(nb, na))
		files := store.Files{Cert: testpki.PEM(leaf), Chain: testpki.PEM(g.inter), Fullchain: testpki.PEM(leaf, g.inter), Key: leaf.KeyPEM()}
		v, err := st.SaveVersion(name, files)
		if err != nil {
			fatalf("save %s: %v", name, err)
		}
		rec := &store.Record{Name: name, Domains: []string{domain}}
		store.RecordFromCert(rec, leaf.Cert)
		rec.Version = v
		rt := nb
		rec.RenewTime, rec.LastAttempt = &rt, &rt
		rec.ARI = ariFor(nb, now)
		state = append(state, rec)
	}
	if err := st.SaveRecords(state); err != nil {
		fatalf("save records: %v", err)
	}
	return cfgFile
}

// genState writes a renewd setup with n configured certificates and their
// records (no live/ files: `status` and the scheduling pass read the
// records only). Issue dates are spread over 60 days, so some
// certificates are older than others; one in a hundred had a failed
// renewal and waits for its retry. None is due.
func genState(dir string, n int, c *ca) string {
	cfgFile, storage := filepath.Join(dir, "renewd.yaml"), filepath.Join(dir, "storage")
	writeGlobal(cfgFile, storage, c.dirURL, c.tlsCA, c.rootFile)
	st, err := store.Open(storage)
	if err != nil {
		fatalf("store: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var state []*store.Record
	for i := range n {
		name, domain := fmt.Sprintf("c%05d", i+1), fmt.Sprintf("plan-%05d.bench.test", i+1)
		mustWrite(filepath.Join(dir, "domains.d", name+".yaml"), certYAML(domain, c.httpPort), 0o644)
		age := time.Duration(i%50) * 24 * time.Hour // 0..49 days: the 2/3 point (60 days) is ahead
		nb := now.Add(-age)
		na := nb.Add(90 * 24 * time.Hour)
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
		rec := &store.Record{Name: name, Domains: []string{domain}, Serial: serial.Text(16),
			NotBefore: &nb, NotAfter: &na, Issuer: "Pebble Intermediate CA 0badc0de",
			Version: nb.Format("20060102T150405Z") + "-000", RenewTime: &nb, LastAttempt: &nb}
		rec.ARI = ariFor(nb, now)
		if i%100 == 99 {
			last := now.Add(-time.Hour)
			next := now.Add(4 * time.Hour)
			rec.LastAttempt, rec.LastFailure, rec.NextRetryTime = &last, &last, &next
			rec.RetryCount = 1
			rec.LastError = "acme: error: 400 :: urn:ietf:params:acme:error:connection :: generated failure"
		}
		state = append(state, rec)
	}
	if err := st.SaveRecords(state); err != nil {
		fatalf("save records: %v", err)
	}
	return cfgFile
}
