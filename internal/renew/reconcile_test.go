package renew

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/store"
)

// TestPromoteCommittedVersion: a version stored completely but never made
// live (renewd died between the two) is made live by the next run instead
// of a new order; one whose names are not the configured ones is not.
func TestPromoteCommittedVersion(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		domains   []string // of the unfinished version; nil = the configured ones
		wantOrder bool
	}{
		{desc: "complete and matching", wantOrder: false},
		{desc: "other names", domains: []string{"other.example.com"}, wantOrder: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			shop := certCfg("shop", false)
			h := newHarness(t, shop)
			h.run(Options{Force: true})
			v1 := h.versions("shop")[0]

			h.clock.Advance(69 * day) // v1 is due now
			domains := tc.domains
			if domains == nil {
				domains = shop.Domains
			}
			is, err := h.ca.issue(domains, h.clock.Now(), false)
			if err != nil {
				t.Fatal(err)
			}
			b, err := chain.Verify(is.Certs, chain.Options{Roots: h.ca.pool(), Now: h.clock.Now()})
			if err != nil {
				t.Fatal(err)
			}
			v2, err := h.store.SaveVersion("shop", store.Files{Cert: b.CertPEM(), Chain: b.ChainPEM(), Fullchain: b.FullchainPEM(), Key: is.KeyPEM})
			if err != nil {
				t.Fatal(err)
			}
			unfinish(t, h, "shop", v1, v2) // as if renewd died before the swap
			h.issuer.reset()

			res := h.run(Options{})
			ordered := len(h.issuer.called()) > 0
			if ordered != tc.wantOrder {
				t.Fatalf("ordered = %v, want %v (outcome %s, %v)", ordered, tc.wantOrder, res["shop"].Outcome, h.progress.lines)
			}
			if !tc.wantOrder {
				if got := h.state()["shop"]["version"]; got != v2 {
					t.Errorf("state version %v, want the promoted %s", got, v2)
				}
				if !h.progress.has("shop found: stored version " + v2 + " was never made live") {
					t.Errorf("the promotion is not said: %v", h.progress.lines)
				}
			}
		})
	}
}

// unfinish makes the store look as a kill between storing version v and
// making it live leaves it: live/<name> still at prev, v marked unfinished
// (the mark's file name is the store's, docs/storage.md).
func unfinish(t *testing.T, h *harness, name, prev, v string) {
	t.Helper()
	if err := h.store.MakeLive(name, prev); err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(h.store.Dir(), "archive", name, v, ".unfinished")
	if err := os.WriteFile(mark, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOperatorRollbackIsKept: an operator who points live/<name> back at
// an older version on purpose is not undone by the next pass: the newer
// version carries no unfinished mark, so it is not taken for a crash
// leftover, and the record follows the link.
func TestOperatorRollbackIsKept(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	h.run(Options{Force: true})
	v1 := h.versions("shop")[0]
	h.clock.Advance(day)
	h.run(Options{Force: true})
	v2 := h.versions("shop")[1]

	if err := h.store.MakeLive("shop", v1); err != nil { // the operator's rollback
		t.Fatal(err)
	}
	h.clock.Advance(day)
	h.issuer.reset()
	res := h.run(Options{})
	if calls := h.issuer.called(); len(calls) != 0 {
		t.Fatalf("ordered %v after a rollback of a certificate that is not due", calls)
	}
	if got, err := h.store.LiveVersion("shop"); err != nil || got != v1 {
		t.Fatalf("live is %q (%v) after the pass, want the operator's %s (not %s)", got, err, v1, v2)
	}
	if got := h.state()["shop"]["version"]; got != v1 {
		t.Errorf("record version %v, want %s: the record follows the link", got, v1)
	}
	if res["shop"].Outcome != NotDue {
		t.Errorf("outcome %s, want not due", res["shop"].Outcome)
	}
}
