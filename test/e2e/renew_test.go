package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHTTP01Listen issues through renewd's own responder, then checks that
// a plain `renew` finds nothing due and orders nothing, and that status
// reports the certificate in both formats.
func TestHTTP01Listen(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	domains := []string{"listen.example.com", "www.listen.example.com"}
	w.addCert("shop", listenCert(pb.HTTPPort, domains...))

	res := w.mustRenew("renew", "--now")
	for _, step := range []string{"order", "chain", "stored", "done"} {
		if !strings.Contains(res.stdout, "shop") || !strings.Contains(res.stdout, step) {
			t.Errorf("progress lacks step %q:\n%s", step, res.stdout)
		}
	}
	b := w.checkComplete("shop", domains, 1)

	st := w.state()["shop"]
	if st["serial"] != fmt.Sprintf("%x", b.Leaf.SerialNumber) {
		t.Errorf("state serial %v, leaf serial %x", st["serial"], b.Leaf.SerialNumber)
	}
	if st["retry_count"] != float64(0) || st["next_retry_time"] != nil {
		t.Errorf("retry fields after success: %v %v", st["retry_count"], st["next_retry_time"])
	}
	notAfter, err := time.Parse(time.RFC3339, fmt.Sprint(st["not_after"]))
	if err != nil || !notAfter.Equal(b.Leaf.NotAfter.UTC().Truncate(time.Second)) || !strings.HasSuffix(fmt.Sprint(st["not_after"]), "Z") {
		t.Errorf("state not_after %v (%v), want RFC 3339 UTC of %v", st["not_after"], err, b.Leaf.NotAfter)
	}

	// Nothing is due: no order, no new version.
	before := versions(t, w.storage, "shop")
	res = w.mustRenew("renew")
	if !strings.Contains(res.stdout, "not due") {
		t.Errorf("renew without --now:\n%s", res)
	}
	if after := versions(t, w.storage, "shop"); len(after) != len(before) {
		t.Errorf("renew without --now made a new version: %v -> %v", before, after)
	}

	res = w.mustRenew("status", "--json")
	var status struct {
		Certificates []map[string]any `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &status); err != nil || len(status.Certificates) != 1 {
		t.Fatalf("status --json: %v\n%s", err, res.stdout)
	}
	row := status.Certificates[0]
	for _, k := range []string{"name", "domains", "serial", "not_after", "retry_count", "next_retry_time", "next_renewal", "days_left"} {
		if _, ok := row[k]; !ok {
			t.Errorf("status --json lacks %q: %v", k, row)
		}
	}
	if row["days_left"] != float64(89) {
		t.Errorf("days_left = %v, want 89 for a fresh 90-day certificate", row["days_left"])
	}
	res = w.mustRenew("status")
	if !strings.Contains(res.stdout, "shop") || !strings.Contains(res.stdout, "listen.example.com") {
		t.Errorf("status:\n%s", res.stdout)
	}
}

// TestHTTP01Webroot issues through a real nginx serving the webroot, and
// leaves no challenge file behind.
func TestHTTP01Webroot(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	webroot := t.TempDir()
	startNginxWebroot(t, pb.HTTPPort, webroot)
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	domains := []string{"webroot.example.com"}
	w.addCert("site", fmt.Sprintf("domains: [webroot.example.com]\nchallenge:\n  type: http-01\n  http01: {webroot: %s}\n", webroot))

	w.mustRenew("renew", "--now", "site")
	w.checkComplete("site", domains, 1)
	left, _ := filepath.Glob(filepath.Join(webroot, ".well-known", "acme-challenge", "*"))
	if len(left) != 0 {
		t.Errorf("challenge files left in the webroot: %v", left)
	}
}

// dnsScript writes lego's exec-provider script that sets TXT records in
// challtestsrv, the way a user's script would call their DNS API.
func dnsScript(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dns.sh")
	script := fmt.Sprintf(`#!/bin/sh
set -e
case "$1" in
  present) curl -sf -X POST -d "{\"host\":\"$2\",\"value\":\"$3\"}" %[1]s/set-txt ;;
  cleanup) curl -sf -X POST -d "{\"host\":\"$2\"}" %[1]s/clear-txt ;;
esac
`, env.challMgmtURL)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDNS01Wildcard issues a wildcard plus its apex through lego's exec
// provider (credentials-style settings in the YAML env map), with renewd's
// own propagation check against challtestsrv as the resolver.
func TestDNS01Wildcard(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	domains := []string{"*.wild.example.com", "wild.example.com"}
	w.addCert("wild", fmt.Sprintf(`domains: ["*.wild.example.com", wild.example.com]
challenge:
  type: dns-01
  dns01:
    provider: exec
    env: {EXEC_PATH: %s, EXEC_POLLING_INTERVAL: "1", EXEC_SEQUENCE_INTERVAL: "1"}
    resolvers: [%q]
    propagation_timeout: 30s
`, dnsScript(t), env.dnsAddr))

	w.mustRenew("renew", "--now")
	w.checkComplete("wild", domains, 1)
}

// TestChainLength3 stores every intermediate of a longer chain, in order.
func TestChainLength3(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{chainLength: 3})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("long", listenCert(pb.HTTPPort, "long.example.com"))
	w.mustRenew("renew", "--now")
	// PEBBLE_CHAIN_LENGTH counts intermediates: three, stored in issuing order.
	b := w.checkComplete("long", []string{"long.example.com"}, 3)
	prev := b.Leaf
	for i, ic := range b.Intermediates {
		if issuerCN(prev) != ic.Subject.CommonName {
			t.Errorf("intermediate %d is %q, but the certificate before it was issued by %q", i+1, ic.Subject.CommonName, issuerCN(prev))
		}
		prev = ic
	}
}

// TestPreferredChain picks the alternate chain to the named root.
func TestPreferredChain(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{alternateRoots: 2})
	roots := parseRoots(t, pb)
	want := roots[len(roots)-1].Subject.CommonName
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile, preferredChain: want})
	w.addCert("alt", listenCert(pb.HTTPPort, "alt.example.com"))
	w.mustRenew("renew", "--now")
	b := w.checkComplete("alt", []string{"alt.example.com"}, 1)
	if got := issuerCN(b.Intermediates[len(b.Intermediates)-1]); got != want {
		t.Errorf("stored chain ends at root %q, preferred %q", got, want)
	}
}

// TestBadNonces survives Pebble rejecting a fifth of all nonces.
func TestBadNonces(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{nonceReject: 20})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("nonce", listenCert(pb.HTTPPort, "nonce.example.com"))
	w.mustRenew("renew", "--now")
	w.checkComplete("nonce", []string{"nonce.example.com"}, 1)
}

// TestShortlivedProfile asks for the 6-day profile; the policy renews those
// at half their lifetime.
func TestShortlivedProfile(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile, profile: "shortlived"})
	w.addCert("short", listenCert(pb.HTTPPort, "short.example.com"))
	w.mustRenew("renew", "--now")
	b := w.checkComplete("short", []string{"short.example.com"}, 1)
	if life := b.Leaf.NotAfter.Sub(b.Leaf.NotBefore); life > 7*24*time.Hour {
		t.Errorf("lifetime %s, want the 6-day profile", life)
	}
	res := w.mustRenew("status")
	if !strings.Contains(res.stdout, "1/2 of lifetime left") {
		t.Errorf("status does not explain the short-lifetime rule:\n%s", res.stdout)
	}
}

// TestSharedResponder runs three concurrent orders through one listen
// address: one responder serves all their tokens.
func TestSharedResponder(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	for i := range 3 {
		w.addCert(fmt.Sprintf("c%d", i), listenCert(pb.HTTPPort, fmt.Sprintf("c%d.shared.example.com", i)))
	}
	res := w.mustRenew("renew", "--now")
	if !strings.Contains(res.stdout, "3 renewed") {
		t.Errorf("want 3 renewed:\n%s", res.stdout)
	}
	for i := range 3 {
		w.checkComplete(fmt.Sprintf("c%d", i), []string{fmt.Sprintf("c%d.shared.example.com", i)}, 1)
	}
}
