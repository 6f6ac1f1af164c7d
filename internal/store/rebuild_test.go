package store

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRecordFromCert(t *testing.T) {
	tests := []struct {
		desc string
		leaf *x509.Certificate
		want Record
	}{
		{
			desc: "issuer CN, nanoseconds dropped",
			leaf: &x509.Certificate{
				DNSNames:     []string{"shop.example.com", "www.shop.example.com"},
				SerialNumber: new(big.Int).SetBytes([]byte{0x0a, 0xbc, 0xde, 0xf0}),
				NotBefore:    t0.Add(500 * time.Millisecond),
				NotAfter:     t0.AddDate(0, 0, 90).In(time.FixedZone("X", 3600)),
				Issuer:       pkix.Name{CommonName: "R11", Organization: []string{"Let's Encrypt"}},
			},
			want: Record{
				Domains:   []string{"shop.example.com", "www.shop.example.com"},
				Serial:    "abcdef0",
				NotBefore: ptr(t0),
				NotAfter:  ptr(t0.AddDate(0, 0, 90)),
				Issuer:    "R11",
			},
		},
		{
			desc: "issuer without CN",
			leaf: &x509.Certificate{
				SerialNumber: big.NewInt(255),
				NotBefore:    t0,
				NotAfter:     t1,
				Issuer:       pkix.Name{Organization: []string{"Example CA"}, Country: []string{"CN"}},
			},
			want: Record{Domains: []string{}, Serial: "ff", NotBefore: ptr(t0), NotAfter: ptr(t1), Issuer: "O=Example CA,C=CN"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := Record{Name: "shop", RetryCount: 4}
			RecordFromCert(&r, tt.leaf)
			tt.want.Name, tt.want.RetryCount = "shop", 4
			if !slices.Equal(r.Domains, tt.want.Domains) || r.Serial != tt.want.Serial || r.Issuer != tt.want.Issuer ||
				!r.NotBefore.Equal(*tt.want.NotBefore) || !r.NotAfter.Equal(*tt.want.NotAfter) ||
				r.NotAfter.Location() != time.UTC || r.Name != "shop" || r.RetryCount != 4 {
				t.Errorf("got %+v\nwant %+v", r, tt.want)
			}
		})
	}
}

// TestRebuildState builds state from a live tree with good entries and
// every kind of broken one: the good ones come back, each broken one is
// reported and skipped.
func TestRebuildState(t *testing.T) {
	s := openTest(t)
	ca := newTestCA(t)
	shop, shopLeaf := ca.issue(t, 0x1001, t0, "shop.example.com", "www.shop.example.com")
	blog, _ := ca.issue(t, 0x1002, t1, "blog.example.com")
	mismatched, _ := ca.issue(t, 0x1003, t0, "bad.example.com")
	other, _ := ca.issue(t, 0x1004, t0, "other.example.com")
	mismatched.Key = other.Key

	shopV := mustSave(t, s, "shop", shop)
	mustSave(t, s, "blog", blog)
	mustSave(t, s, "oldblog", blog)
	s.now = fixedClock(t1)
	blogV := mustSave(t, s, "blog", blog) // a second version: the record names it
	mustSave(t, s, "keymismatch", mismatched)
	notPEM := shop
	notPEM.Cert = []byte("hello")
	mustSave(t, s, "notpem", notPEM)
	mustSave(t, s, "outside", shop)
	relink(t, s, "outside", "/etc")
	dangling := mustSave(t, s, "dangling", shop)
	if err := os.RemoveAll(filepath.Join(s.archiveRoot(), "dangling", dangling)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.LiveDir("oldblog")); err != nil { // archive only: not live, not listed
		t.Fatal(err)
	}
	// Hostile and stale entries someone put in live/.
	if err := os.Symlink("../archive/shop/"+shopV, filepath.Join(s.liveRoot(), "a b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../archive/shop/"+shopV, filepath.Join(s.liveRoot(), ".shop.tmp-0123")); err != nil {
		t.Fatal(err)
	}

	recs, repairs, err := s.Records()
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(recs)); !slices.Equal(got, []string{"blog", "shop"}) {
		t.Errorf("rebuilt %v, want [blog shop]", got)
	}
	var msgs []string
	for _, rp := range repairs {
		msgs = append(msgs, rp.String())
	}
	joined := strings.Join(msgs, "\n")
	// Names ValidName rejects ("a b") are not certificates renewd made:
	// they are skipped silently, as are temporary names.
	for _, want := range []string{"keymismatch", "notpem", "outside archive/outside/", "dangling"} {
		if !strings.Contains(joined, want) {
			t.Errorf("repairs do not mention %s:\n%s", want, joined)
		}
	}
	if len(repairs) != 6 {
		t.Errorf("%d repairs, want 6 (blog and shop rebuilt, 4 not):\n%s", len(repairs), joined)
	}

	r := recs["shop"]
	want := Record{Name: "shop", Version: shopV}
	RecordFromCert(&want, shopLeaf)
	if r.Name != "shop" || r.Version != shopV || r.Serial != "1001" || r.Issuer != "renewd test intermediate" ||
		!slices.Equal(r.Domains, []string{"shop.example.com", "www.shop.example.com"}) ||
		!r.NotBefore.Equal(t0) || !r.NotAfter.Equal(t0.AddDate(0, 0, 90)) {
		t.Errorf("shop = %+v, want %+v", r, want)
	}
	if r.RenewTime != nil || r.LastAttempt != nil || r.NextRetryTime != nil || r.RetryCount != 0 || r.ARI != nil {
		t.Errorf("shop has renewal fields: %+v", r)
	}
	if recs["blog"].Version != blogV {
		t.Errorf("blog version = %s, want the live one %s", recs["blog"].Version, blogV)
	}
}

func TestRebuildStateNoLive(t *testing.T) {
	s := openTest(t)
	if err := os.Remove(s.liveRoot()); err != nil {
		t.Fatal(err)
	}
	recs, repairs, err := s.Records()
	if err != nil || len(repairs) != 0 || len(recs) != 0 {
		t.Errorf("Records = %+v, %v, %v", recs, repairs, err)
	}
}

func ptr(t time.Time) *time.Time { return &t }
