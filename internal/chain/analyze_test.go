package chain

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// judgePKI is root -> inter -> leaves, root -> int1 -> int2 for longer
// chains, and what the strict-client rules are about, made with testpki.
type judgePKI struct {
	b                  *testpki.Builder
	root, inter        *testpki.Cert
	int1, int2         *testpki.Cert
	other, otherInter  *testpki.Cert // an untrusted root and its intermediate
	expiredInter       *testpki.Cert // inter's name and key, expired
	wrongKeyInter      *testpki.Cert // inter's name, another key
	leafOfInter, leaf2 *testpki.Cert
}

func newJudgePKI(t *testing.T) *judgePKI {
	b := testpki.New(t, testNow)
	p := &judgePKI{b: b}
	p.root = b.Root(testpki.Validity(testNow.AddDate(-5, 0, 0), testNow.AddDate(20, 0, 0)))
	p.inter = b.Issue(p.root, testpki.CN("Inter"))
	p.int1 = b.Issue(p.root, testpki.CN("Int 1"))
	p.int2 = b.Issue(p.int1, testpki.CN("Int 2"))
	p.other = b.Root(testpki.CN("Private Root"))
	p.otherInter = b.Issue(p.other, testpki.CN("Private Inter"))
	p.expiredInter = b.Issue(p.root, testpki.CN("Inter"), testpki.WithKey(p.inter.Key),
		testpki.Validity(testNow.AddDate(-4, 0, 0), testNow.AddDate(0, 0, -1)))
	p.wrongKeyInter = b.Issue(p.root, testpki.CN("Inter"))
	p.leafOfInter = p.leaf(p.inter)
	p.leaf2 = p.leaf(p.int2)
	return p
}

func (p *judgePKI) leaf(parent *testpki.Cert, opts ...testpki.Option) *testpki.Cert {
	return p.b.Issue(parent, append([]testpki.Option{testpki.CN("shop.example.com"), testpki.Names("shop.example.com")}, opts...)...)
}

func (p *judgePKI) opts() Options { return Options{Roots: testpki.Pool(p.root), Now: testNow} }

// problem is what a test expects of one Problem.
type problem struct {
	kind    Kind
	fatal   bool
	message string
}

func TestAnalyze(t *testing.T) {
	p := newJudgePKI(t)
	b := p.b
	c := testpki.Certs
	notCA := b.Issue(p.root, testpki.CN("Not CA"), testpki.CA(false))
	noSign := b.Issue(p.root, testpki.CN("No Sign"), testpki.KeyUsage(x509.KeyUsageCRLSign))
	clientCA := b.Issue(p.root, testpki.CN("Client CA"), testpki.ExtKeyUsage(x509.ExtKeyUsageClientAuth))
	anyCA := b.Issue(p.root, testpki.CN("Any CA"), testpki.ExtKeyUsage(x509.ExtKeyUsageAny))
	lenZero := b.Issue(p.root, testpki.CN("Len Zero"), testpki.MaxPathLen(0))
	belowZero := b.Issue(lenZero, testpki.CN("Below Zero"))
	sha1 := b.Issue(p.root, testpki.CN("SHA-1 Inter"), testpki.SigAlg(x509.ECDSAWithSHA1))
	short := b.Issue(p.root, testpki.CN("Short Inter"), testpki.Validity(testNow.AddDate(-1, 0, 0), testNow.AddDate(0, 0, 20)))
	constrained := b.Issue(p.root, testpki.CN("Constrained"))
	tests := []struct {
		desc    string
		certs   []*x509.Certificate
		opts    *Options
		trusted bool
		want    []problem // in order; nil: no problem at all
	}{
		{"complete", c(p.leafOfInter, p.inter), nil, true, nil},
		{"two intermediates", c(p.leaf2, p.int2, p.int1), nil, true, nil},
		{"leaf only", c(p.leafOfInter), nil, false, []problem{{KindIncomplete, true, `incomplete: no certificate for issuer "CN=Inter" of the leaf "CN=shop.example.com": send it after the leaf`}}},
		{"upper intermediate missing", c(p.leaf2, p.int2), nil, false, []problem{{KindIncomplete, true, `incomplete or untrusted: the chain ends at certificate 2 "CN=Int 2"`}}},
		{"same name, other key", c(p.leafOfInter, p.wrongKeyInter), nil, false,
			[]problem{{KindWrongIssuer, true, "but is not the one that issued it (same name, other key"}}},
		{"authority key identifier not the intermediate's", c(p.leaf(p.inter, testpki.AuthorityKeyID([]byte{9, 9})), p.inter), nil, false,
			[]problem{{KindWrongIssuer, true, "names the authority key identifier 09:09, certificate 2 \"CN=Inter\" has the subject key identifier"}}},
		{"authority key identifier not the trusted root's", c(p.leaf(p.root, testpki.AuthorityKeyID([]byte{9, 9}))), nil, false,
			[]problem{{KindWrongIssuer, true, `but the trusted root "CN=Test Root CA" with its issuer's name has the subject key identifier`}}},
		{"untrusted root sent", c(p.leaf(p.otherInter), p.otherInter, p.other), nil, false,
			[]problem{{KindUntrustedRoot, true, `untrusted root: the chain ends at the self-signed certificate 3 "CN=Private Root"`}}},
		{"self-signed leaf", c(b.Root(testpki.CN("self"), testpki.Names("self.example.com"))), nil, false,
			[]problem{{KindUntrustedRoot, true, `self-signed: "CN=self" is its own issuer`}}},
		{"a trusted root alone", c(p.root), &Options{Roots: testpki.Pool(p.root), Now: testNow}, true,
			[]problem{{KindNoLeaf, true, "is a CA certificate, not a server's own"}, {KindLeafUsage, true, "not digital signature"}}},
		{"expired copy before the current intermediate", c(p.leafOfInter, p.expiredInter, p.inter), nil, true,
			[]problem{{KindShadowed, true, `certificate 2 "CN=Inter" is an expired or not yet valid copy`}}},
		{"expired copy after it", c(p.leafOfInter, p.inter, p.expiredInter), nil, true,
			[]problem{{KindExtra, false, `certificate 3 "CN=Inter" is an expired or not yet valid copy (valid 2022-11-21T16:00:00Z to 2026-11-20T16:00:00Z) of certificate 2 "CN=Inter": remove it`}}},
		{"another key's copy before the issuer", c(p.leafOfInter, p.wrongKeyInter, p.inter), nil, true,
			[]problem{{KindShadowed, false, "did not issue it (another key), and comes before certificate 3"}}},
		{"leaf second", c(p.inter, p.leafOfInter), nil, true,
			[]problem{{KindLeafNotFirst, true, `the leaf "CN=shop.example.com" is certificate 2, after the CA certificate "CN=Inter": put the leaf first`}}},
		{"intermediates out of order", c(p.leaf2, p.int1, p.int2), nil, true,
			[]problem{{KindOrder, false, "wrong order: the path is CN=shop.example.com (sent as 1) -> CN=Int 2 (sent as 3) -> CN=Int 1 (sent as 2)"}}},
		{"duplicate and root", c(p.leafOfInter, p.inter, p.inter, p.root), nil, true,
			[]problem{{KindDuplicate, false, "sent twice (also as 2)"}, {KindRootSent, false, `root sent needlessly: certificate 4 "CN=Test Root CA"`}}},
		{"unrelated", c(p.leafOfInter, p.inter, p.otherInter), nil, true,
			[]problem{{KindExtra, false, `certificate 3 "CN=Private Inter" is unrelated to this chain: remove it`}}},
		{"intermediate without the CA bit", c(p.leaf(notCA), notCA), nil, true,
			[]problem{{KindUnfitCA, true, "is not a CA certificate (its basic constraints lack CA:TRUE)"}}},
		{"intermediate without certificate signing", c(p.leaf(noSign), noSign), nil, true,
			[]problem{{KindUnfitCA, true, "does not allow certificate signing (keyCertSign)"}}},
		{"intermediate for client authentication", c(p.leaf(clientCA), clientCA), nil, true,
			[]problem{{KindUnfitCA, true, "restricts what it issues to clientAuth, without server authentication (serverAuth): OpenSSL-based clients (curl, Python, Android) and gnutls refuse its certificates for a TLS server, and so does Go"}}},
		{"intermediate for any usage", c(p.leaf(anyCA), anyCA), nil, true,
			[]problem{{KindUnfitCA, true, "restricts what it issues to anyExtendedKeyUsage, without server authentication"}}},
		{"path length exceeded", c(p.leaf(belowZero), belowZero, lenZero), nil, true,
			[]problem{{KindUnfitCA, true, `certificate 3 "CN=Len Zero" allows 0 intermediate(s) below it (its path length constraint), but the path has 1`}}},
		{"leaf for certificate signing only", c(p.leaf(p.inter, testpki.KeyUsage(x509.KeyUsageCertSign)), p.inter), nil, true,
			[]problem{{KindLeafUsage, true, "the leaf's key usage allows only certificate signing, not digital signature"}}},
		{"leaf for client authentication", c(p.leaf(p.inter, testpki.ExtKeyUsage(x509.ExtKeyUsageClientAuth)), p.inter), nil, true,
			[]problem{{KindLeafUsage, true, "the leaf's extended key usage is clientAuth, without server authentication (serverAuth)"}}},
		{"leaf with no usage extensions", c(p.leaf(p.inter, testpki.KeyUsage(0), testpki.ExtKeyUsage()), p.inter), nil, true, nil},
		{"must-staple", c(p.leaf(p.inter, testpki.MustStaple()), p.inter), nil, true,
			[]problem{{KindMustStaple, false, "the leaf requires a stapled OCSP response (must-staple, RFC 7633)"}}},
		{"expired leaf", c(p.leaf(p.inter, testpki.Validity(testNow.AddDate(0, 0, -90), testNow.Add(-36*time.Hour))), p.inter), nil, true,
			[]problem{{KindExpired, true, `the leaf "CN=shop.example.com" expired at 2026-11-20T04:00:00Z (36 hours ago): renew it`}}},
		{"leaf not valid yet", c(p.leaf(p.inter, testpki.Validity(testNow.Add(5*time.Hour), testNow.AddDate(0, 0, 6))), p.inter), nil, true,
			[]problem{{KindNotYetValid, true, `the leaf "CN=shop.example.com" is not valid before 2026-11-21T21:00:00Z (in 5 hours)`}}},
		{"intermediate expires before the leaf", c(p.leaf(short), short), nil, true,
			[]problem{{KindExpiresFirst, false, `intermediate "CN=Short Inter" expires at 2026-12-11T16:00:00Z, before the leaf`}}},
		{"SHA-1 intermediate", c(p.leaf(sha1), sha1), nil, false,
			[]problem{{KindRejected, true, "insecure algorithm ECDSA-SHA1"}, {KindWeakSignature, true, `"CN=SHA-1 Inter" is signed with ECDSA-SHA1`}}},
		{"RSA 1024 leaf", c(p.leaf(p.inter, testpki.Key(testpki.RSA1024)), p.inter), nil, true,
			[]problem{{KindWeakKey, true, `leaf "CN=shop.example.com" has an RSA 1024-bit key`}}},
		{"Ed25519 leaf", c(p.leaf(p.inter, testpki.Key(testpki.Ed25519)), p.inter), nil, true,
			[]problem{{KindKeyType, false, "has an Ed25519 key"}}},
		{"what the rules miss, Go's verifier catches", c(p.leaf(constrained), constrained),
			&Options{Roots: constrainedPool(t, p), Now: testNow}, true,
			[]problem{{KindRejected, true, "not trusted: Go's verifier rejects the chain"}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			opts := p.opts()
			if tc.opts != nil {
				opts = *tc.opts
			}
			a := Analyze(tc.certs, opts)
			if a.Trusted != tc.trusted {
				t.Errorf("Trusted = %v, want %v", a.Trusted, tc.trusted)
			}
			if len(a.Problems) != len(tc.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(a.Problems), len(tc.want), problemText(a))
			}
			for i, w := range tc.want {
				got := a.Problems[i]
				if got.Kind != w.kind || got.Fatal != w.fatal || !strings.Contains(got.Message, w.message) {
					t.Errorf("problem %d = %s %v %q\nwant %s %v containing %q", i, got.Kind, got.Fatal, got.Message, w.kind, w.fatal, w.message)
				}
			}
		})
	}
}

// constrainedPool trusts the test root's key and name with a name
// constraint allowing only example.org, so a leaf for example.com passes
// every rule but name constraints, which Go checks.
func constrainedPool(t *testing.T, p *judgePKI) *x509.CertPool {
	t.Helper()
	c := testpki.New(t, testNow).Root(testpki.WithKey(p.root.Key), testpki.PermittedDNSDomains("example.org"),
		testpki.Validity(testNow.AddDate(-5, 0, 0), testNow.AddDate(20, 0, 0)))
	return testpki.Pool(c)
}

func problemText(a *Analysis) string {
	var b strings.Builder
	for _, p := range a.Problems {
		b.WriteString(string(p.Kind) + " ")
		if p.Fatal {
			b.WriteString("fatal ")
		}
		b.WriteString(p.Message + "\n")
	}
	return b.String()
}

func TestAnalysisErr(t *testing.T) {
	p := newJudgePKI(t)
	c := testpki.Certs
	tests := []struct {
		desc string
		a    *Analysis
		is   func(error) bool
	}{
		{"complete: no error", Analyze(c(p.leafOfInter, p.inter), p.opts()), func(err error) bool { return err == nil }},
		{"a gap is an IncompleteError", Analyze(c(p.leafOfInter), p.opts()), func(err error) bool {
			var ie *IncompleteError
			return errors.As(err, &ie) && ie.Issuer == "CN=Inter" && ie.Subject == "CN=shop.example.com" && !ie.UntrustedRoot()
		}},
		{"an untrusted root says so", Analyze(c(p.leaf(p.otherInter), p.otherInter, p.other), p.opts()), func(err error) bool {
			var ie *IncompleteError
			return errors.As(err, &ie) && ie.UntrustedRoot() && ie.Issuer == "CN=Private Root"
		}},
		{"the leaf second is ErrOrder", Analyze(c(p.inter, p.leafOfInter), p.opts()), func(err error) bool { return errors.Is(err, ErrOrder) }},
		{"dates wrap x509's expiry", Analyze(c(p.leafOfInter, p.inter), Options{Roots: testpki.Pool(p.root), Now: testNow.AddDate(5, 0, 0)}),
			func(err error) bool {
				var inv x509.CertificateInvalidError
				return errors.As(err, &inv) && inv.Reason == x509.Expired
			}},
		{"the rest is ErrRejected", Analyze(c(p.leaf(p.inter, testpki.Key(testpki.RSA1024)), p.inter), p.opts()),
			func(err error) bool { return errors.Is(err, ErrRejected) }},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if err := tc.a.Err(); !tc.is(err) {
				t.Errorf("Err() = %v (%T)", err, err)
			}
		})
	}
}

func TestBuildRepairs(t *testing.T) {
	p := newJudgePKI(t)
	c := testpki.Certs
	tests := []struct {
		desc string
		sent []*x509.Certificate
		want []string
	}{
		{"as it should be", c(p.leaf2, p.int2, p.int1), nil},
		{"out of order", c(p.leaf2, p.int1, p.int2), []string{`reordered: the CA sent the intermediates as CN=Int 1, CN=Int 2; stored in path order CN=Int 2, CN=Int 1`}},
		{"root sent", c(p.leaf2, p.int2, p.int1, p.root), []string{`dropped the root "CN=Test Root CA" the CA sent (clients have it already)`}},
		{"unrelated sent", c(p.leaf2, p.int2, p.int1, p.otherInter), []string{`dropped "CN=Private Inter", which the CA sent but which is not on the path to a trusted root`}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			bundle, err := Build(t.Context(), tc.sent, p.leaf2.Key, []string{"shop.example.com"}, p.opts())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(bundle.Repairs, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Repairs = %q, want %q", bundle.Repairs, tc.want)
			}
		})
	}

	aia := newAIAServer(t)
	aia.set("/int2", aiaRoute{body: p.int2.Cert.Raw})
	aia.set("/int1", aiaRoute{body: p.int1.Cert.Raw})
	leaf := p.leaf(p.int2, testpki.AIA(aia.url("/int2")))
	opts := p.opts()
	opts.Fetcher = HTTPFetcher{}
	bundle, err := Build(t.Context(), c(leaf, p.int1), leaf.Key, []string{"shop.example.com"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`completed through AIA: the CA sent no "CN=Int 2", fetched it from ` + aia.url("/int2")}
	if strings.Join(bundle.Repairs, "\n") != strings.Join(want, "\n") {
		t.Errorf("Repairs = %q, want %q", bundle.Repairs, want)
	}
}

func TestLifetime(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		desc           string
		left, lifetime time.Duration
		want           string
		warn           time.Duration
	}{
		{"90-day certificate", 89*day + 5*time.Hour, 90 * day, "89 days", 14 * day},
		{"one day left of 90: hours", day + time.Hour, 90 * day, "25 hours", 14 * day},
		{"two days left of 90", 2*day + 5*time.Hour, 90 * day, "2 days", 14 * day},
		{"5 hours left of 90", 5 * time.Hour, 90 * day, "5 hours", 14 * day},
		{"6-day certificate", 5*day + 2*time.Hour, 6 * day, "122 hours", 2 * day},
		{"24-hour certificate, fresh", 23 * time.Hour, day, "23 hours", 8 * time.Hour},
		{"24-hour certificate, nearly over", 150 * time.Minute, day, "150 minutes", 8 * time.Hour},
		{"expired long ago, short lifetime", -20 * day, day, "20 days", 8 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := FormatLeft(tc.left, tc.lifetime); got != tc.want {
				t.Errorf("FormatLeft(%s, %s) = %q, want %q", tc.left, tc.lifetime, got, tc.want)
			}
			if got := WarnBefore(tc.lifetime); got != tc.warn {
				t.Errorf("WarnBefore(%s) = %s, want %s", tc.lifetime, got, tc.warn)
			}
		})
	}
}
