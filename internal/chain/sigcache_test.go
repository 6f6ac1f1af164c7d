package chain

import (
	"crypto/x509"
	"fmt"
	"sync"
	"testing"

	"github.com/renewd/renewd/internal/testpki"
)

// remembered reports whether sigs holds the checks want for the pair.
func remembered(t *testing.T, child, parent *x509.Certificate, want sigBits) bool {
	t.Helper()
	key, ok := pairKey(child, parent)
	if !ok {
		t.Fatal("pairKey: no key for parsed certificates")
	}
	return sigs.has(key, want)
}

// TestSigCacheHit: a pass is remembered and answers the same the next
// time; CheckSignatureFrom's pass answers the plain signature check too,
// but not the other way round.
func TestSigCacheHit(t *testing.T) {
	p := newPKI(t, nil)
	leaf, int2 := p.leaf.Cert, p.int2.Cert
	if remembered(t, leaf, int2, sigValid) {
		t.Fatal("a new leaf is remembered before any check")
	}
	if err := checkSignatureFrom(leaf, int2); err != nil {
		t.Fatalf("checkSignatureFrom: %v", err)
	}
	if !remembered(t, leaf, int2, sigFrom|sigValid) {
		t.Fatal("a passed CheckSignatureFrom is not remembered for both checks")
	}
	if err := checkSignatureFrom(leaf, int2); err != nil {
		t.Errorf("checkSignatureFrom again: %v", err)
	}
	if !signs(int2, leaf) || issuedBy(leaf, int2) != nil {
		t.Error("a remembered pair no longer signs")
	}

	// An intermediate that may not sign certificates: its signature is
	// valid, but CheckSignatureFrom refuses it, and so does issuedBy,
	// however often the plain check passed.
	notCA := testpki.New(t, testNow).Issue(p.root, testpki.CN("Not CA"), testpki.CA(false))
	child := issue(t, notCA, certSpec{cn: "under.example.com", names: []string{"under.example.com"}})
	for range 2 {
		if !signs(notCA.Cert, child.Cert) {
			t.Fatal("signs: the signature of a non-CA parent is valid")
		}
		if err := issuedBy(child.Cert, notCA.Cert); err == nil {
			t.Fatal("issuedBy accepts a parent that may not sign certificates")
		}
	}
	if !remembered(t, child.Cert, notCA.Cert, sigValid) || remembered(t, child.Cert, notCA.Cert, sigFrom) {
		t.Error("want the plain signature check remembered and CheckSignatureFrom not")
	}
}

// TestSigCacheFailureNotRemembered: a failed check is checked again each
// time and fails each time.
func TestSigCacheFailureNotRemembered(t *testing.T) {
	p := newPKI(t, nil)
	for range 2 {
		if signs(p.int1.Cert, p.leaf.Cert) {
			t.Fatal("signs: int1 did not sign the leaf")
		}
		if err := issuedBy(p.leaf.Cert, p.int1.Cert); err == nil {
			t.Fatal("issuedBy: int1 did not issue the leaf")
		}
	}
	if remembered(t, p.leaf.Cert, p.int1.Cert, sigValid) {
		t.Error("a failed check is remembered")
	}
}

// TestSigCacheChangedCertificate: a certificate whose DER differs from a
// remembered one, here in the last byte of its signature, is checked
// again.
func TestSigCacheChangedCertificate(t *testing.T) {
	p := newPKI(t, nil)
	if !signs(p.int2.Cert, p.leaf.Cert) {
		t.Fatal("signs: int2 signed the leaf")
	}
	der := append([]byte(nil), p.leaf.Cert.Raw...)
	der[len(der)-1] ^= 0xff
	forged, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if signs(p.int2.Cert, forged) {
		t.Error("signs: a changed signature passes")
	}
	if err := issuedBy(forged, p.int2.Cert); err == nil {
		t.Error("issuedBy: a changed signature passes")
	}
	if remembered(t, forged, p.int2.Cert, sigValid) {
		t.Error("the changed certificate is remembered")
	}
}

// TestSigCacheNoDER: certificates built by hand have no DER to key on and
// are never remembered.
func TestSigCacheNoDER(t *testing.T) {
	if _, ok := pairKey(&x509.Certificate{}, &x509.Certificate{}); ok {
		t.Error("pairKey of certificates without DER")
	}
	p := newPKI(t, nil)
	if _, ok := pairKey(p.leaf.Cert, &x509.Certificate{}); ok {
		t.Error("pairKey with a parent without DER")
	}
}

// TestSigCacheBounded: the cache never holds more than its size, forgets
// the oldest pair first, and keeps what a pair already had.
func TestSigCacheBounded(t *testing.T) {
	s := newSigCache(3)
	key := func(i int) [32]byte {
		var k [32]byte
		copy(k[:], fmt.Sprintf("pair %d", i))
		return k
	}
	for i := range 10 {
		s.add(key(i), sigValid)
		if n := s.len(); n > 3 {
			t.Fatalf("after %d adds, %d pairs remembered, want at most 3", i+1, n)
		}
	}
	for i := range 10 {
		if got, want := s.has(key(i), sigValid), i >= 7; got != want {
			t.Errorf("pair %d remembered = %v, want %v", i, got, want)
		}
	}
	s.add(key(9), sigFrom)
	if !s.has(key(9), sigValid|sigFrom) || s.len() != 3 {
		t.Errorf("adding to a remembered pair: has both = %v, len = %d; want true, 3", s.has(key(9), sigValid|sigFrom), s.len())
	}
	s.add(key(10), sigValid)
	if s.has(key(7), sigValid) || !s.has(key(8), sigValid) || !s.has(key(10), sigValid) {
		t.Error("want the oldest pair (7) forgotten for the new one")
	}
}

// TestSigCacheConcurrent runs the checks from many goroutines at once (for
// -race) and expects the same answers from all.
func TestSigCacheConcurrent(t *testing.T) {
	p := newPKI(t, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if !signs(p.int2.Cert, p.leaf.Cert) || issuedBy(p.int2.Cert, p.int1.Cert) != nil || !isSelfSigned(p.root.Cert) {
					errs <- "a valid signature failed"
					return
				}
				if signs(p.int1.Cert, p.leaf.Cert) {
					errs <- "an invalid signature passed"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
