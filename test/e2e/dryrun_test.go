package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDryRun: `renew --dry-run` orders from acme.staging_directory, checks
// the chain, and touches nothing: not live/, not the records, not the
// deployed files, not what nginx serves. Without a staging directory it
// says what to set.
func TestDryRun(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOpts{}, "dry.example.com")
	s.w.mustRenew("renew", "--now")
	served := s.servedSerial("dry.example.com")

	res := s.w.renewd("renew", "--dry-run")
	if res.code != 2 || !strings.Contains(res.stderr, "acme.staging_directory") {
		t.Errorf("--dry-run without a staging directory: want exit 2 naming acme.staging_directory, got %s", res)
	}

	staging := startProxy(t, s.pb) // stands in for the CA's staging directory
	s.w.writeGlobal(strings.Replace(string(mustRead(t, s.w.config)), "  profile:", "  staging_directory: "+staging.dirURL+"\n  profile:", 1))
	liveBefore := s.w.liveTarget("site")
	stateBefore := s.w.stateBytes()
	deployedBefore := mustRead(t, s.fullchain)
	versionsBefore := versions(t, s.w.storage, "site")

	res = s.w.mustRenew("renew", "--dry-run")
	for _, want := range []string{"dry run against " + staging.dirURL, "site             chain   complete", "dry run: 1 renewed, 0 failed"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, res.stdout)
		}
	}
	// Orders Pebble created, not POSTs to newOrder: Pebble refuses 5% of
	// good nonces, and lego sends a refused new order again.
	if n := staging.orders(); n != 1 {
		t.Errorf("the staging directory created %d orders, want 1", n)
	}
	if got := s.w.liveTarget("site"); got != liveBefore {
		t.Errorf("a dry run moved live/site from %s to %s", liveBefore, got)
	}
	if got := s.w.stateBytes(); !bytes.Equal(got, stateBefore) {
		t.Errorf("a dry run changed the records:\n%s\n---\n%s", stateBefore, got)
	}
	if got := mustRead(t, s.fullchain); !bytes.Equal(got, deployedBefore) {
		t.Error("a dry run rewrote the deployed fullchain")
	}
	if got := versions(t, s.w.storage, "site"); !slices.Equal(got, versionsBefore) {
		t.Errorf("a dry run stored a version: %v, was %v", got, versionsBefore)
	}
	if got := s.servedSerial("dry.example.com"); got != served {
		t.Errorf("nginx serves %s after a dry run, was %s", got, served)
	}
	if _, err := os.Stat(filepath.Join(s.w.storage, "live", "site", "fullchain.pem")); err != nil {
		t.Error(err)
	}
}
