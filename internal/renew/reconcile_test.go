package renew

import (
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
			if err := h.store.Promote("shop", v1); err != nil { // as if renewd died before the swap
				t.Fatal(err)
			}
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
