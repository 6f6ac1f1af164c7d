package chain

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// buildCase is one Build call against a fresh testPKI whose AIA URLs point
// at a fresh aiaServer.
type buildCase struct {
	desc      string
	certs     func(p *testPKI) []*x509.Certificate
	routes    func(t *testing.T, p *testPKI) map[string]aiaRoute // AIA server answers
	noFetch   bool                                               // Options.Fetcher nil
	key       func(p *testPKI) crypto.Signer                     // nil = the leaf's key
	domains   []string                                           // nil = leafNames
	want      []string                                           // intermediates' CNs on success
	fetched   []string                                           // AIA paths that must have been requested once
	unfetched []string                                           // AIA paths that must not have been requested
	wantErr   func(s *aiaServer) errCheck
}

var bothInts = []string{"Test Intermediate 2", "Test Intermediate 1"}

func TestBuild(t *testing.T) {
	tests := []buildCase{
		{desc: "complete chain with one intermediate", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf1, p.int1) },
			key:     func(p *testPKI) crypto.Signer { return p.leaf1.Key },
			domains: []string{"one.example.com"}, want: []string{"Test Intermediate 1"}},
		{desc: "complete chain with two intermediates", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			want: bothInts},
		{desc: "wrong order is reordered", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int1, p.int2) },
			want: bothInts},
		{desc: "root appended is dropped", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.root, p.int2, p.int1) },
			want: bothInts},
		{desc: "unrelated extra certificate is dropped", certs: func(p *testPKI) []*x509.Certificate {
			other := issue(t, newRoot(t, "Other Root"), certSpec{cn: "Unrelated Intermediate"})
			return testpki.Certs(p.leaf, other, p.int1, p.int2)
		}, want: bothInts},
		{desc: "duplicates are dropped", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int2, p.leaf, p.int1) },
			want: bothInts},
		{desc: "leaf only is completed through two AIA levels (DER)", certs: leafOnly,
			routes: func(t *testing.T, p *testPKI) map[string]aiaRoute {
				return map[string]aiaRoute{"/int2": {body: p.int2.Cert.Raw}, "/int1": {body: p.int1.Cert.Raw}}
			}, want: bothInts, fetched: []string{"/int2", "/int1"}},
		{desc: "missing intermediate completed from a PEM body", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2) },
			routes: func(t *testing.T, p *testPKI) map[string]aiaRoute {
				return map[string]aiaRoute{"/int1": {body: pemOf(p.int1.Cert)}}
			}, want: bothInts, fetched: []string{"/int1"}},
		{desc: "missing intermediate completed from a PKCS#7 body", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2) },
			routes: func(t *testing.T, p *testPKI) map[string]aiaRoute {
				return map[string]aiaRoute{"/int1": {body: pkcs7Of(t, p.int1.Cert)}}
			}, want: bothInts, fetched: []string{"/int1"}},
		{desc: "leaf only completed from one PEM PKCS#7 holding both intermediates", certs: leafOnly,
			routes: func(t *testing.T, p *testPKI) map[string]aiaRoute {
				return map[string]aiaRoute{"/int2": {body: pkcs7PEMOf(t, p.int2.Cert, p.int1.Cert)}}
			}, want: bothInts, fetched: []string{"/int2"}},
		{desc: "complete chain fetches nothing", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			routes: func(t *testing.T, p *testPKI) map[string]aiaRoute {
				return map[string]aiaRoute{"/root.der": {body: p.root.Cert.Raw}}
			}, want: bothInts, unfetched: []string{"/root.der", "/int1", "/int2"}},
		{desc: "leaf only without fetcher", certs: leafOnly, noFetch: true,
			wantErr: func(s *aiaServer) errCheck {
				return wantIncomplete("CN=Test Intermediate 2", "CN=shop.example.com", s.url("/int2")+" as where to fetch it, but strict clients")
			}},
		{desc: "AIA answers 404", certs: leafOnly,
			wantErr: func(s *aiaServer) errCheck {
				return wantIncomplete("CN=Test Intermediate 2", "CN=shop.example.com", "AIA caIssuers "+s.url("/int2")+": fetch failed: ", "404 Not Found")
			}},
		{desc: "AIA answers 500 after the first level", certs: leafOnly,
			routes: func(t *testing.T, p *testPKI) map[string]aiaRoute {
				return map[string]aiaRoute{"/int2": {body: p.int2.Cert.Raw}, "/int1": {status: 500}}
			}, wantErr: func(s *aiaServer) errCheck {
				return wantIncomplete("CN=Test Intermediate 1", "CN=Test Intermediate 2", s.url("/int1"), "500 Internal Server Error")
			}},
		{desc: "AIA answers a huge body", certs: leafOnly,
			routes: func(t *testing.T, p *testPKI) map[string]aiaRoute {
				return map[string]aiaRoute{"/int2": {body: make([]byte, 2<<20)}}
			}, wantErr: func(s *aiaServer) errCheck {
				return wantIncomplete("CN=Test Intermediate 2", "CN=shop.example.com", "more than the 1048576 bytes allowed")
			}},
		{desc: "AIA answers garbage", certs: leafOnly,
			routes: func(t *testing.T, p *testPKI) map[string]aiaRoute {
				return map[string]aiaRoute{"/int2": {body: []byte("<html>hello</html>")}}
			}, wantErr: func(s *aiaServer) errCheck {
				return wantIncomplete("CN=Test Intermediate 2", "CN=shop.example.com", "neither PEM, a DER certificate")
			}},
		{desc: "AIA answers a certificate that is not the issuer", certs: leafOnly,
			routes: func(t *testing.T, p *testPKI) map[string]aiaRoute {
				return map[string]aiaRoute{"/int2": {body: p.int1.Cert.Raw}}
			}, wantErr: func(s *aiaServer) errCheck {
				return wantIncomplete("CN=Test Intermediate 2", "CN=shop.example.com", `served 1 certificate(s), none of them issued "CN=shop.example.com"`)
			}},
		{desc: "key mismatch", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			key: func(p *testPKI) crypto.Signer { return p.int2.Key },
			wantErr: func(*aiaServer) errCheck {
				return wantIs(ErrKeyMismatch, `leaf "CN=shop.example.com" has a different public key (ECDSA P-256) than the order's private key (ECDSA P-256)`)
			}},
		{desc: "Ed25519 key for an ECDSA leaf", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			key: func(p *testPKI) crypto.Signer {
				k, err := testpki.NewKey(testpki.Ed25519)
				if err != nil {
					t.Fatal(err)
				}
				return k
			},
			wantErr: func(*aiaServer) errCheck {
				return wantIs(ErrKeyMismatch, "(ECDSA P-256) than the order's private key (Ed25519)")
			}},
		{desc: "no key", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			key:     func(p *testPKI) crypto.Signer { return nil },
			wantErr: func(*aiaServer) errCheck { return wantIs(ErrKeyMismatch, "than the order's private key (none given)") }},
		{desc: "names compare as a set, case-insensitively", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			domains: []string{"WWW.Shop.Example.com", "shop.example.com.", "shop.example.com"}, want: bothInts},
		{desc: "SAN missing", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			domains: []string{"shop.example.com", "www.shop.example.com", "api.shop.example.com", "cdn.shop.example.com"},
			wantErr: func(*aiaServer) errCheck {
				return wantIs(ErrNameMismatch, "missing api.shop.example.com, cdn.shop.example.com")
			}},
		{desc: "SAN extra", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			domains: []string{"shop.example.com"},
			wantErr: func(*aiaServer) errCheck { return wantIs(ErrNameMismatch, "not requested www.shop.example.com") }},
		{desc: "SAN missing and extra", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			domains: []string{"shop.example.com", "api.shop.example.com"},
			wantErr: func(*aiaServer) errCheck {
				return wantIs(ErrNameMismatch, "missing api.shop.example.com; not requested www.shop.example.com")
			}},
		{desc: "no names requested", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			domains: []string{}, wantErr: func(*aiaServer) errCheck { return wantIs(ErrNameMismatch, "no names were requested") }},
		{desc: "key is checked before names", certs: func(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf, p.int2, p.int1) },
			key: func(p *testPKI) crypto.Signer { return p.root.Key }, domains: []string{"other.example.com"},
			wantErr: func(*aiaServer) errCheck { return wantIs(ErrKeyMismatch) }},
		{desc: "no certificates", certs: func(p *testPKI) []*x509.Certificate { return nil },
			wantErr: func(*aiaServer) errCheck { return wantMessage("no certificates") }},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) { runBuildCase(t, tt) })
	}
}

func leafOnly(p *testPKI) []*x509.Certificate { return testpki.Certs(p.leaf) }

func runBuildCase(t *testing.T, tt buildCase) {
	s := newAIAServer(t)
	p := newPKI(t, s)
	if tt.routes != nil {
		for path, r := range tt.routes(t, p) {
			s.set(path, r)
		}
	}
	opts := p.opts()
	if !tt.noFetch {
		opts.Fetcher = HTTPFetcher{}
	}
	var key crypto.Signer = p.leaf.Key
	if tt.key != nil {
		key = tt.key(p)
	}
	domains := tt.domains
	if domains == nil {
		domains = leafNames
	}
	in := tt.certs(p)
	b, err := Build(t.Context(), in, key, domains, opts)
	if tt.wantErr != nil {
		if b != nil {
			t.Errorf("Build returned a bundle with the error")
		}
		tt.wantErr(s)(t, err)
		return
	}
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if b.Leaf != in[0] {
		t.Errorf("leaf = %q, want %q", b.Leaf.Subject, in[0].Subject)
	}
	if got := cns(b.Intermediates); !slices.Equal(got, tt.want) {
		t.Errorf("intermediates = %q, want %q", got, tt.want)
	}
	for _, path := range tt.fetched {
		if s.hitCount(path) != 1 {
			t.Errorf("AIA %s fetched %d times, want 1", path, s.hitCount(path))
		}
	}
	for _, path := range tt.unfetched {
		if s.hitCount(path) != 0 {
			t.Errorf("AIA %s fetched %d times, want 0", path, s.hitCount(path))
		}
	}
	if _, err := Verify(append([]*x509.Certificate{b.Leaf}, b.Intermediates...), opts); err != nil {
		t.Errorf("the bundle Build returned does not Verify: %v", err)
	}
}

// TestBuildLeafOnlyWithoutAIA is the case renewd exists for: a CA (or a
// panel's "cert" field) hands over the leaf alone, and nothing names its
// issuer. It must fail, and say so plainly.
func TestBuildLeafOnlyWithoutAIA(t *testing.T) {
	p := newPKI(t, nil)
	opts := p.opts()
	opts.Fetcher = HTTPFetcher{}
	_, err := Build(t.Context(), testpki.Certs(p.leaf), p.leaf.Key, leafNames, opts)
	want := `chain incomplete: no certificate for issuer "CN=Test Intermediate 2" of "CN=shop.example.com" (no AIA caIssuers URL in the certificate)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant %s", err, want)
	}
	wantIncomplete("CN=Test Intermediate 2", "CN=shop.example.com")(t, err)
}

func TestBuildMissingIntermediateWithoutAIA(t *testing.T) {
	p := newPKI(t, nil)
	opts := p.opts()
	opts.Fetcher = HTTPFetcher{}
	_, err := Build(t.Context(), testpki.Certs(p.leaf, p.int2, newRoot(t, "Unrelated Root")), p.leaf.Key, leafNames, opts)
	want := `chain incomplete: no certificate for issuer "CN=Test Intermediate 1" of "CN=Test Intermediate 2" (no AIA caIssuers URL in the certificate)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant %s", err, want)
	}
}

// TestBuildAIAHangs: a caIssuers server that never answers must not hold a
// renewal longer than the caller's context allows.
func TestBuildAIAHangs(t *testing.T) {
	s := newAIAServer(t)
	p := newPKI(t, s)
	s.set("/int2", aiaRoute{hang: true})
	opts := p.opts()
	opts.Fetcher = HTTPFetcher{}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()

	_, err := Build(ctx, testpki.Certs(p.leaf), p.leaf.Key, leafNames, opts)
	wantIncomplete("CN=Test Intermediate 2", "CN=shop.example.com", "fetch failed")(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap context.DeadlineExceeded: %v", err)
	}
}

// TestBuildAIADepthLimit: a chain needing more than four fetched issuers is
// refused rather than followed forever.
func TestBuildAIADepthLimit(t *testing.T) {
	s := newAIAServer(t)
	root := newRoot(t, "Deep Root")
	parent := root
	var ints []*testCert
	for i := range 5 {
		c := issue(t, parent, certSpec{cn: fmt.Sprintf("Deep %d", i), aia: []string{s.url(fmt.Sprintf("/i%d", i))}})
		s.set(fmt.Sprintf("/i%d", i+1), aiaRoute{body: c.Cert.Raw})
		ints = append(ints, c)
		parent = c
	}
	leaf := issue(t, parent, certSpec{cn: "deep.example.com", names: []string{"deep.example.com"}, aia: []string{s.url("/i5")}})
	opts := Options{Roots: testpki.Pool(root), Now: testNow, Fetcher: HTTPFetcher{}}

	_, err := Build(t.Context(), testpki.Certs(leaf), leaf.Key, []string{"deep.example.com"}, opts)
	wantIncomplete("CN=Deep 0", "CN=Deep 1", "already fetched 4 issuers")(t, err)

	b, err := Build(t.Context(), testpki.Certs(leaf, ints[0]), leaf.Key, []string{"deep.example.com"}, opts)
	if err != nil {
		t.Fatalf("Build with the top intermediate supplied: %v", err)
	}
	if len(b.Intermediates) != 5 {
		t.Errorf("got %d intermediates, want 5", len(b.Intermediates))
	}
}

// TestBuildCrossSigned: the CA sends both versions of a cross-signed
// intermediate; only the second root is trusted, so Build keeps the version
// that root signed.
func TestBuildCrossSigned(t *testing.T) {
	x := newCrossPKI(t)
	opts := Options{Roots: testpki.Pool(x.root2), Now: testNow}
	b, err := Build(t.Context(), testpki.Certs(x.leaf, x.int, x.cross, x.oldRoot), x.leaf.Key, leafNames, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(b.Intermediates) != 1 || !b.Intermediates[0].Equal(x.cross.Cert) {
		t.Errorf("intermediates = %q, want only the cross-signed one", cns(b.Intermediates))
	}

	_, err = Build(t.Context(), testpki.Certs(x.leaf, x.int, x.oldRoot), x.leaf.Key, leafNames, opts)
	wantIncomplete("CN=Old Root", "CN=Cross Intermediate", "untrusted root", "is not in the trust store")(t, err)
}

func TestBuildExpiredIntermediate(t *testing.T) {
	root := issue(t, nil, certSpec{cn: "Test Root CA", notBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
	expired := issue(t, root, certSpec{cn: "Old Intermediate",
		notBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), notAfter: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	leaf := issue(t, expired, certSpec{cn: "shop.example.com", names: leafNames,
		notBefore: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)})
	opts := Options{Roots: testpki.Pool(root), Now: testNow, Fetcher: failFetcher{t}}

	_, err := Build(t.Context(), testpki.Certs(leaf, expired), leaf.Key, leafNames, opts)
	wantMessage(`intermediate "CN=Old Intermediate" expired at 2026-10-01T00:00:00Z`, "send the current intermediate from your CA")(t, err)
	if strings.Contains(err.Error(), "incomplete") {
		t.Errorf("an expired intermediate is reported as a gap: %v", err)
	}
}

// failFetcher fails the test if Build fetches when nothing is missing.
type failFetcher struct{ t *testing.T }

func (f failFetcher) Fetch(_ context.Context, url string) ([]*x509.Certificate, error) {
	f.t.Errorf("unexpected AIA fetch of %s", url)
	return nil, errors.New("unexpected fetch")
}

// TestBuildKeepsTheCAChain: when the CA sends a longer chain that also
// verifies (an intermediate, then its root cross-signed by an older root,
// as Let's Encrypt did until 2024), Build keeps what the CA sent rather than
// cutting it at the first trusted root, since clients that trust only the
// older root need it.
func TestBuildKeepsTheCAChain(t *testing.T) {
	oldRoot, newRootCA := newRoot(t, "Old Root"), newRoot(t, "New Root")
	crossedRoot := issue(t, oldRoot, certSpec{cn: "New Root", key: newRootCA.Key})
	inter := issue(t, newRootCA, certSpec{cn: "Issuing CA"})
	leaf := issue(t, inter, certSpec{cn: "shop.example.com", names: leafNames})
	opts := Options{Roots: testpki.Pool(oldRoot, newRootCA), Now: testNow}

	tests := []struct {
		desc string
		in   []*testCert
		want []*testCert
	}{
		{desc: "long chain sent", in: []*testCert{leaf, inter, crossedRoot}, want: []*testCert{inter, crossedRoot}},
		{desc: "short chain sent", in: []*testCert{leaf, inter}, want: []*testCert{inter}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			b, err := Build(t.Context(), testpki.Certs(tt.in...), leaf.Key, leafNames, opts)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !slices.EqualFunc(b.Intermediates, testpki.Certs(tt.want...), (*x509.Certificate).Equal) {
				t.Errorf("intermediates = %q", cns(b.Intermediates))
			}
		})
	}
}
