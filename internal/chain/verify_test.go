package chain

import (
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

func TestVerify(t *testing.T) {
	p := newPKI(t, nil)
	withAIA := newPKI(t, newAIAServer(t))
	other := newRoot(t, "Other Root")
	unrelated := issue(t, other, certSpec{cn: "Unrelated Intermediate"})
	clientOnly := issue(t, p.int2, certSpec{cn: "client.example.com", names: []string{"client.example.com"},
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})

	tests := []struct {
		desc    string
		certs   []*x509.Certificate
		opts    Options
		want    []string // intermediates' CNs on success
		wantErr errCheck
	}{
		{desc: "complete chain with one intermediate", certs: testpki.Certs(p.leaf1, p.int1), want: []string{"Test Intermediate 1"}},
		{desc: "complete chain with two intermediates", certs: testpki.Certs(p.leaf, p.int2, p.int1),
			want: []string{"Test Intermediate 2", "Test Intermediate 1"}},
		{desc: "root appended is tolerated and dropped", certs: testpki.Certs(p.leaf, p.int2, p.int1, p.root),
			want: []string{"Test Intermediate 2", "Test Intermediate 1"}},
		{desc: "trusted leaf alone", certs: testpki.Certs(p.leaf), opts: Options{Roots: testpki.Pool(p.leaf), Now: testNow}},
		{desc: "wrong order", certs: testpki.Certs(p.leaf, p.int1, p.int2),
			wantErr: wantIs(ErrOrder, `certificate 1 "CN=shop.example.com" is not issued by certificate 2 "CN=Test Intermediate 1"`,
				`its issuer is "CN=Test Intermediate 2", which is certificate 3`)},
		{desc: "leaf not first", certs: testpki.Certs(p.int2, p.leaf, p.int1),
			wantErr: wantIs(ErrOrder, `the leaf "CN=shop.example.com" is certificate 2`, "put the leaf first")},
		{desc: "unrelated certificate at the end", certs: testpki.Certs(p.leaf, p.int2, p.int1, unrelated),
			wantErr: wantIs(ErrOrder, `certificate 3 "CN=Test Intermediate 1" is not issued by certificate 4 "CN=Unrelated Intermediate"`,
				`its issuer is "CN=Test Root CA", which is not in the chain`)},
		{desc: "missing intermediate", certs: testpki.Certs(p.leaf, p.int2),
			wantErr: wantIncomplete("CN=Test Intermediate 1", "CN=Test Intermediate 2", "neither sent nor in the trust store")},
		{desc: "leaf only", certs: testpki.Certs(p.leaf),
			wantErr: wantIncomplete("CN=Test Intermediate 2", "CN=shop.example.com", "send it after the leaf", "it names no URL to fetch it from")},
		{desc: "leaf only whose AIA strict clients do not fetch", certs: testpki.Certs(withAIA.leaf), opts: withAIA.opts(),
			wantErr: wantIncomplete("CN=Test Intermediate 2", "CN=shop.example.com", "/int2 as where to fetch it, but strict clients")},
		{desc: "root appended but not trusted", certs: testpki.Certs(p.leaf, p.int2, p.int1, p.root), opts: Options{Roots: testpki.Pool(other), Now: testNow},
			wantErr: wantIncomplete("CN=Test Root CA", "CN=Test Intermediate 1", "untrusted root", `certificate 4 "CN=Test Root CA", which is not in the trust store`)},
		{desc: "leaf expired", certs: testpki.Certs(p.leaf, p.int2, p.int1), opts: Options{Roots: testpki.Pool(p.root), Now: testNow.AddDate(2, 0, 0)},
			wantErr: wantMessage(`the leaf "CN=shop.example.com" expired at 2027-11-21T16:00:00Z (366 days ago): renew it`)},
		{desc: "leaf not yet valid", certs: testpki.Certs(p.leaf, p.int2, p.int1), opts: Options{Roots: testpki.Pool(p.root), Now: testNow.AddDate(0, -2, 0)},
			wantErr: wantMessage(`the leaf "CN=shop.example.com" is not valid before 2026-10-21T16:00:00Z (in 30 days)`)},
		{desc: "leaf not for server authentication", certs: testpki.Certs(clientOnly, p.int2, p.int1),
			wantErr: wantIs(ErrRejected, "the leaf's extended key usage is clientAuth, without server authentication (serverAuth)")},
		{desc: "no certificates", wantErr: wantMessage("no certificates")},
		{desc: "nil certificate", certs: []*x509.Certificate{p.leaf.Cert, nil}, wantErr: wantMessage("certificate 2 is nil")},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			opts := tt.opts
			if opts.Roots == nil {
				opts = p.opts()
			}
			b, err := Verify(tt.certs, opts)
			if tt.wantErr != nil {
				if b != nil {
					t.Errorf("Verify returned a bundle with the error")
				}
				tt.wantErr(t, err)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if b.Leaf != tt.certs[0] {
				t.Errorf("leaf = %q, want %q", b.Leaf.Subject, tt.certs[0].Subject)
			}
			if got := cns(b.Intermediates); !slices.Equal(got, tt.want) {
				t.Errorf("intermediates = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVerifyExpiredIntermediate(t *testing.T) {
	root := issue(t, nil, certSpec{cn: "Test Root CA", notBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
	expired := issue(t, root, certSpec{cn: "Old Intermediate",
		notBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), notAfter: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	leaf := issue(t, expired, certSpec{cn: "shop.example.com", names: leafNames,
		notBefore: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)})

	_, err := Verify(testpki.Certs(leaf, expired), Options{Roots: testpki.Pool(root), Now: testNow})
	wantMessage(`intermediate "CN=Old Intermediate" expired at 2026-10-01T00:00:00Z: clients reject the chain`)(t, err)
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("error does not wrap x509's expiry error: %v", err)
	}
}

// TestVerifyCrossSigned: an intermediate cross-signed by a second root
// verifies when only that root is trusted, and only in that version.
func TestVerifyCrossSigned(t *testing.T) {
	x := newCrossPKI(t)
	opts := Options{Roots: testpki.Pool(x.root2), Now: testNow}

	b, err := Verify(testpki.Certs(x.leaf, x.cross), opts)
	if err != nil {
		t.Fatalf("Verify via the cross-signed intermediate: %v", err)
	}
	if !b.Intermediates[0].Equal(x.cross.Cert) {
		t.Errorf("intermediate is not the cross-signed one")
	}
	_, err = Verify(testpki.Certs(x.leaf, x.int), opts)
	wantIncomplete("CN=Old Root", "CN=Cross Intermediate")(t, err)
}

// crossPKI is oldRoot -> int -> leaf, with int cross-signed by root2 (same
// subject and key).
type crossPKI struct {
	oldRoot, root2, int, cross, leaf *testCert
}

func newCrossPKI(t *testing.T) *crossPKI {
	x := &crossPKI{oldRoot: newRoot(t, "Old Root"), root2: newRoot(t, "New Root")}
	x.int = issue(t, x.oldRoot, certSpec{cn: "Cross Intermediate"})
	x.cross = issue(t, x.root2, certSpec{cn: "Cross Intermediate", key: x.int.Key})
	x.leaf = issue(t, x.int, certSpec{cn: "shop.example.com", names: leafNames})
	return x
}
