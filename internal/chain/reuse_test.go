package chain

import (
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// TestVerificationAnswersOnlyTheSameQuestion: crossCheck takes Build's x509
// verification only when every input is the same; any difference, even in
// the order of the intermediates, means asking x509 again.
func TestVerificationAnswersOnlyTheSameQuestion(t *testing.T) {
	p := newPKI(t, nil)
	same := p.opts()
	f := newPathFinder(p.leaf.Cert, testpki.Certs(p.int2, p.int1), same)
	chain, v := f.verified()
	if v == nil || len(chain) != 3 {
		t.Fatalf("verified() = %v, %v; want the leaf and two intermediates and a verification", cns(chain), v)
	}
	inter := func(cs ...*testCert) poolOrder {
		var o poolOrder
		for _, c := range testpki.Certs(cs...) {
			o.add(c)
		}
		return o
	}
	leafCopy := *p.leaf.Cert
	tests := []struct {
		desc  string
		leaf  *testCert
		inter poolOrder
		opts  Options
		want  bool
	}{
		{"the same inputs", p.leaf, inter(p.int2, p.int1), same, true},
		{"a repeat AddCert ignores", p.leaf, inter(p.int2, p.int1, p.int2), same, true},
		{"another leaf", &testCert{Cert: &leafCopy}, inter(p.int2, p.int1), same, false},
		{"intermediates in another order", p.leaf, inter(p.int1, p.int2), same, false},
		{"one intermediate fewer", p.leaf, inter(p.int2), same, false},
		{"one intermediate more", p.leaf, inter(p.int2, p.int1, p.root), same, false},
		{"another time", p.leaf, inter(p.int2, p.int1), Options{Roots: same.Roots, Now: testNow.Add(time.Second)}, false},
		{"no time (now)", p.leaf, inter(p.int2, p.int1), Options{Roots: same.Roots}, false},
		{"another trust store, even with the same roots", p.leaf, inter(p.int2, p.int1), Options{Roots: testpki.Pool(p.root), Now: testNow}, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := v.answers(tc.leaf.Cert, tc.inter, tc.opts); got != tc.want {
				t.Errorf("answers = %v, want %v", got, tc.want)
			}
		})
	}
	var none *verification
	if none.answers(p.leaf.Cert, inter(p.int2, p.int1), same) {
		t.Error("no verification answers")
	}
}
