package chain

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/renewd/renewd/internal/testpki"
)

// pebbleLike is a CA shaped like Pebble's default: an RSA-2048 root that
// is trusted and an RSA-2048 intermediate that signs every leaf, sent
// after the leaf.
type pebbleLike struct {
	b          *testpki.Builder
	root, inte *testCert
	leafKey    *testCert // only its key: every leaf reuses it, as key generation is not what is measured
	opts       Options
}

func newPebbleLike(b *testing.B) *pebbleLike {
	b.Helper()
	pki := testpki.New(b, testNow)
	p := &pebbleLike{b: pki}
	p.root = pki.Root(testpki.CN("Pebble Root CA"), testpki.Key(testpki.RSA2048))
	p.inte = pki.Issue(p.root, testpki.CN("Pebble Intermediate CA"), testpki.Key(testpki.RSA2048))
	p.leafKey = pki.Issue(p.inte, testpki.CN("key.example.com"), testpki.Names("key.example.com"))
	p.opts = Options{Roots: testpki.Pool(p.root), Now: testNow}
	return p
}

// leaves issues n leaves from the intermediate, each a new certificate as
// every order is.
func (p *pebbleLike) leaves(n int) [][]*x509.Certificate {
	out := make([][]*x509.Certificate, n)
	for i := range out {
		l := p.b.Issue(p.inte, testpki.CN("shop.example.com"), testpki.Names(leafNames...), testpki.WithKey(p.leafKey.Key))
		out[i] = []*x509.Certificate{l.Cert, p.inte.Cert}
	}
	return out
}

// BenchmarkBuildPebbleLike measures what renew does with each issued
// certificate: chain.Build of the CA's answer (leaf + intermediate), a new
// leaf every time. Making the leaves is not timed; run it with
// -benchtime=300x, as signing b.N RSA leaves beforehand is slow.
func BenchmarkBuildPebbleLike(b *testing.B) {
	p := newPebbleLike(b)
	answers := p.leaves(b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Build(ctx, answers[i], p.leafKey.Key, leafNames, p.opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyStoredPebbleLike measures the check of stored files
// before a deploy without a new order (renew's checkFiles): chain.Verify
// of the same fullchain again and again.
func BenchmarkVerifyStoredPebbleLike(b *testing.B) {
	p := newPebbleLike(b)
	certs := p.leaves(1)[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Verify(certs, p.opts); err != nil {
			b.Fatal(err)
		}
	}
}
