package renew

import (
	"crypto/x509"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/testpki"
)

// t0 is "now" in every test unless a test advances its clock.
var t0 = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

// day keeps the policy tables readable.
const day = 24 * time.Hour

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tp(t time.Time) *time.Time { return &t }

// fakeClock is a clock that moves only when told to. Safe for concurrent
// use, since the renewer reads it from several goroutines.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testCA is a tiny PKI: a self-signed ECDSA P-256 root and one intermediate
// it signed. Leaves are issued by the intermediate.
type testCA struct {
	root, inter *testpki.Cert
}

var serials atomic.Int64

func newCA(t testing.TB, now time.Time) *testCA {
	t.Helper()
	b := testpki.New(t, now)
	ca := func(cn string) []testpki.Option {
		return []testpki.Option{testpki.CN(cn), testpki.Serial(serials.Add(1)), testpki.Validity(now.AddDate(-1, 0, 0), now.AddDate(5, 0, 0))}
	}
	root := b.Root(ca("renewd Test Root")...)
	return &testCA{root: root, inter: b.Issue(root, ca("renewd Test Intermediate")...)}
}

func (ca *testCA) pool() *x509.CertPool { return testpki.Pool(ca.root) }

// issue is what a CA answers to an order for domains at now: a fresh key
// and a 90-day leaf valid from an hour before now, followed by the
// intermediate unless leafOnly (the broken BaoTa-style answer). The leaf
// carries no AIA URL, so a leaf-only answer cannot be completed. Fake
// issuers call it from the renewer's goroutines, where failing the test is
// not allowed: its builder panics instead, and the renewer turns a panic
// into that renewal's failure.
func (ca *testCA) issue(domains []string, now time.Time, leafOnly bool) (*acme.Issued, error) {
	notBefore := now.Add(-time.Hour)
	leaf := testpki.NewPanicking(now).Issue(ca.inter, testpki.CN(domains[0]), testpki.Names(domains...),
		testpki.Serial(serials.Add(1)+1000), testpki.Validity(notBefore, notBefore.Add(90*day)))
	certs := []*x509.Certificate{leaf.Cert, ca.inter.Cert}
	if leafOnly {
		certs = certs[:1]
	}
	return &acme.Issued{Certs: certs, Key: leaf.Key, KeyPEM: testpki.ECKeyPEM(leaf.Key)}, nil
}
