package renew

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/acme"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/deploy"
)

// TestDryRun: a dry run orders every selected certificate, due or not,
// canary first, checks the chain, and writes nothing: no version, no
// state, no deploy.
func TestDryRun(t *testing.T) {
	shop := certCfg("shop", false)
	shop.Deploy = config.Deploy{Nginx: true}
	h := newHarness(t, certCfg("canary", true), shop)
	dep := &fakeDeployer{}
	h.r.Deployer = dep
	h.run(Options{Force: true})
	before := stateFiles(t, h)
	versionsBefore := h.versions("shop")
	h.issuer.reset()
	dep.calls = 0

	res := h.run(Options{DryRun: true})
	for _, name := range []string{"canary", "shop"} {
		if res[name].Outcome != Renewed || res[name].Err != nil {
			t.Errorf("%s: %s (%v), want renewed", name, res[name].Outcome, res[name].Err)
		}
	}
	if got := h.issuer.called(); !slices.Equal(got, []string{"canary", "shop"}) {
		t.Errorf("orders %v, want the canary then shop", got)
	}
	for _, p := range h.issuer.previous {
		if p != nil {
			t.Error("a dry run sent `replaces` for a certificate the staging CA never issued")
		}
	}
	if after := stateFiles(t, h); !maps.Equal(before, after) {
		t.Errorf("a dry run changed the records:\n%v\n---\n%v", before, after)
	}
	if got := h.versions("shop"); !slices.Equal(got, versionsBefore) {
		t.Errorf("a dry run stored a version: %v, was %v", got, versionsBefore)
	}
	if dep.calls != 0 {
		t.Errorf("a dry run deployed %d time(s)", dep.calls)
	}
	if !h.progress.has("shop done: dry run") {
		t.Errorf("no dry-run line in %v", h.progress.lines)
	}
}

// TestDryRunChainRefused: a dry run still refuses a leaf-only answer it
// cannot complete, and records nothing for it.
func TestDryRunChainRefused(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	h.issuer.obtain = h.issueLeafOnly
	res := h.run(Options{DryRun: true})
	var inc *chain.IncompleteError
	if res["shop"].Outcome != Failed || !errors.As(res["shop"].Err, &inc) {
		t.Fatalf("leaf-only in a dry run: %s (%v), want failed with an incomplete chain", res["shop"].Outcome, res["shop"].Err)
	}
	if _, err := os.Stat(filepath.Join(h.store.Dir(), "state.json")); err == nil {
		t.Error("a failed dry run wrote state.json")
	}
}

// TestDryRunUntrustedRoot: a chain complete up to a root this machine does
// not trust (a staging CA's) passes a dry run, and only a dry run.
func TestDryRunUntrustedRoot(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	h.r.Roots = newCA(t, t0).pool() // some other root: the CA's is untrusted
	// The CA's whole path, root included (as AIA would complete it for a
	// staging CA's chain).
	h.issuer.obtain = func(ctx context.Context, c *config.Certificate) (*acme.Issued, error) {
		is, err := h.issueComplete(ctx, c)
		if err == nil {
			is.Certs = append(is.Certs, h.ca.root.Cert)
		}
		return is, err
	}
	if res := h.run(Options{DryRun: true}); res["shop"].Outcome != Renewed {
		t.Errorf("dry run with an untrusted root: %s (%v), want renewed", res["shop"].Outcome, res["shop"].Err)
	}
	if !h.progress.has(`shop chain: complete up to`) {
		t.Errorf("the untrusted root is not said: %v", h.progress.lines)
	}
	if res := h.run(Options{Force: true}); res["shop"].Outcome != Failed {
		t.Errorf("a real run with an untrusted root: %s, want failed", res["shop"].Outcome)
	}
}

// TestServedChainVerdict: state.json keeps what the last served-chain
// check found, and when.
func TestServedChainVerdict(t *testing.T) {
	shop := certCfg("shop", false)
	shop.Deploy = config.Deploy{Nginx: true}
	h := newHarness(t, shop)
	dep := &fakeDeployer{}
	h.r.Deployer = dep
	h.run(Options{Force: true})
	if got := h.state()["shop"]; got["served_chain"] != "complete" || got["served_checked_at"] != t0.Format(time.RFC3339) {
		t.Errorf("after a verified deploy: served_chain %v at %v", got["served_chain"], got["served_checked_at"])
	}
	dep.err = fmt.Errorf("after the reload: served chain: %w", &chain.IncompleteError{Subject: "shop", Issuer: "Test Intermediate"})
	h.clock.Advance(time.Hour)
	h.run(Options{Force: true})
	got := h.state()["shop"]
	if got["served_chain"] != "incomplete" || got["last_failure"] != t0.Add(time.Hour).Format(time.RFC3339) {
		t.Errorf("after an incomplete served chain: served_chain %v, last_failure %v", got["served_chain"], got["last_failure"])
	}
	dep.err = errors.New("nginx -t failed")
	h.clock.Advance(time.Hour)
	h.run(Options{Force: true})
	if got := h.state()["shop"]; got["served_chain"] != "incomplete" {
		t.Errorf("a failure before the check changed the verdict to %v", got["served_chain"])
	}
}

// fakeDeployer deploys nothing and answers err for every item.
type fakeDeployer struct {
	calls int
	err   error
}

func (f *fakeDeployer) Deploy(_ context.Context, items []*deploy.Item) map[string]error {
	f.calls++
	out := map[string]error{}
	for _, it := range items {
		out[it.Name] = f.err
	}
	return out
}

// stateFiles returns every file under state/ by name with its content.
func stateFiles(t *testing.T, h *harness) map[string]string {
	t.Helper()
	dir := filepath.Join(h.store.Dir(), "state")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}
