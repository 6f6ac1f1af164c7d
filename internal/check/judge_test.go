package check

import (
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/testpki"
)

// verdicts lists a report's findings as "severity check", in order.
func verdicts(r *Report) []string {
	out := make([]string, len(r.Findings))
	for i, f := range r.Findings {
		out[i] = string(f.Severity) + " " + string(f.Check)
	}
	return out
}

// messages joins a report's findings, one per line, for error output and
// substring checks.
func messages(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString(string(f.Severity) + " " + string(f.Check) + ": " + f.Message + "\n")
	}
	return b.String()
}

func checkReport(t *testing.T, r *Report, want []string, contains []string) {
	t.Helper()
	if got := verdicts(r); !slices.Equal(got, want) {
		t.Errorf("findings = %q, want %q\n%s", got, want, messages(r))
	}
	all := messages(r)
	for _, s := range contains {
		if !strings.Contains(all, s) {
			t.Errorf("findings lack %q:\n%s", s, all)
		}
	}
}

// ok is the findings of a chain with nothing wrong, without names.
var ok = []string{"pass chain", "pass usage", "pass validity", "pass crypto"}

// with returns ok with the findings given added, in report order. A
// failure replaces the passing line of its check; any validity finding
// replaces the leaf's passing validity line (an intermediate's problem
// comes with the leaf's line, which is then given too).
func with(extra ...string) []string {
	r := &Report{}
	for _, v := range extra {
		sev, chk, _ := strings.Cut(v, " ")
		r.Findings = append(r.Findings, Finding{Check: Check(chk), Severity: Severity(sev)})
	}
	for _, v := range ok {
		_, chk, _ := strings.Cut(v, " ")
		if slices.Contains(extra, "fail "+chk) || chk == "validity" && slices.ContainsFunc(extra, func(e string) bool { return strings.HasSuffix(e, " validity") }) {
			continue
		}
		r.Findings = append(r.Findings, Finding{Check: Check(chk), Severity: Pass})
	}
	r.sortFindings()
	return verdicts(r)
}

func TestJudgeChain(t *testing.T) {
	p := newPKI(t)
	unrelated := issue(t, newPKI(t).root, spec{cn: "Unrelated Intermediate"})
	tests := []struct {
		desc     string
		certs    []*x509.Certificate
		want     []string
		contains []string
		path     []PathEntry
	}{
		{
			desc:     "complete",
			certs:    testpki.Certs(p.leaf, p.int),
			want:     with("pass names"),
			contains: []string{`complete: CN=shop.example.com -> CN=Test Intermediate -> CN=Test Root CA (trust store)`},
			path: []PathEntry{
				{"CN=shop.example.com", FromChain}, {"CN=Test Intermediate", FromChain}, {"CN=Test Root CA", FromTrustStore},
			},
		},
		{
			desc:  "missing intermediate, leaf names AIA",
			certs: testpki.Certs(p.leaf),
			want:  with("fail chain", "pass names"),
			contains: []string{`incomplete: no certificate for issuer "CN=Test Intermediate" of the leaf "CN=shop.example.com": send it after the leaf; it names ` +
				leafAIA + ` as where to fetch it, but strict clients like WeChat, Android and curl do not fetch it`},
			path: []PathEntry{{"CN=shop.example.com", FromChain}, {"CN=Test Intermediate", FromMissing}},
		},
		{
			desc:  "missing upper intermediate, or an untrusted root: both are said",
			certs: testpki.Certs(p.leaf2, p.int2),
			want:  with("fail chain"),
			contains: []string{`the chain ends at certificate 2 "CN=Test Intermediate 2", whose issuer "CN=Test Intermediate 1" is neither sent nor in the trust store`,
				"if that is your private or staging CA's root, trust it", "if it is another intermediate, send it after certificate 2"},
		},
		{
			desc:     "wrong order is a warning: every client tested reorders",
			certs:    testpki.Certs(p.leaf2, p.int1, p.int2),
			want:     with("warn chain"),
			contains: []string{"wrong order: the path is CN=deep.example.com (sent as 1) -> CN=Test Intermediate 2 (sent as 3) -> CN=Test Intermediate 1 (sent as 2)"},
		},
		{
			desc:     "root sent",
			certs:    testpki.Certs(p.leaf, p.int, p.root),
			want:     with("warn chain", "pass names"),
			contains: []string{`root sent needlessly: certificate 3 "CN=Test Root CA" is a trust anchor`},
		},
		{
			desc:     "unrelated and duplicate certificates",
			certs:    testpki.Certs(p.leaf, p.int, unrelated, p.int),
			want:     with("warn chain", "warn chain", "pass names"),
			contains: []string{`certificate 3 "CN=Unrelated Intermediate" is unrelated to this chain`, `certificate 4 "CN=Test Intermediate" is sent twice (also as 2)`},
		},
		{
			desc:     "leaf second: put it first, and the leaf is judged",
			certs:    testpki.Certs(p.int, p.leaf),
			want:     with("fail chain", "pass names"),
			contains: []string{`the leaf "CN=shop.example.com" is certificate 2, after the CA certificate "CN=Test Intermediate": put the leaf first`},
		},
		{
			desc:     "a CA certificate alone",
			certs:    testpki.Certs(p.int),
			want:     with("fail chain", "fail names", "fail usage"),
			contains: []string{`the first certificate "CN=Test Intermediate" is a CA certificate, not a server's own`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			host := "shop.example.com"
			if tc.certs[0] == p.leaf2.Cert {
				host = ""
			}
			r := Judge(tc.certs, host, p.opts())
			checkReport(t, r, tc.want, tc.contains)
			if tc.path != nil && !slices.Equal(r.Path, tc.path) {
				t.Errorf("path = %v, want %v", r.Path, tc.path)
			}
		})
	}
}

// TestJudgeMessages: the messages that used to point at the wrong fix say
// what is wrong now.
func TestJudgeMessages(t *testing.T) {
	p := newPKI(t)
	b := testpki.New(t, testNow)
	otherKey := issue(t, p.root, spec{cn: "Test Intermediate"})
	wrongAKI := b.Issue(p.int, testpki.CN("aki.example.com"), testpki.Names("aki.example.com"), testpki.AuthorityKeyID([]byte{1, 2, 3, 4}))
	notCA := b.Issue(p.root, testpki.CN("Not A CA"), testpki.CA(false))
	leafOfNotCA := b.Issue(notCA, testpki.CN("a.example.com"), testpki.Names("a.example.com"))
	noSign := b.Issue(p.root, testpki.CN("No CertSign"), testpki.KeyUsage(x509.KeyUsageCRLSign))
	leafOfNoSign := b.Issue(noSign, testpki.CN("b.example.com"), testpki.Names("b.example.com"))
	private := b.Root(testpki.CN("Private Root"))
	privateInt := b.Issue(private, testpki.CN("Private Intermediate"))
	leafOfPrivate := b.Issue(privateInt, testpki.CN("c.example.com"), testpki.Names("c.example.com"))
	tests := []struct {
		desc     string
		certs    []*x509.Certificate
		want     []string
		contains string
		err      func(error) bool
	}{
		{"same name, other key", testpki.Certs(p.leaf, otherKey), with("fail chain"),
			`certificate 2 "CN=Test Intermediate" has the name of the issuer of the leaf "CN=shop.example.com" but is not the one that issued it (same name, other key`,
			isIncomplete},
		{"key identifiers differ", testpki.Certs(wrongAKI, p.int), with("fail chain"),
			`certificate 2 "CN=Test Intermediate" has the name and key of the issuer of the leaf "CN=aki.example.com" but is not the one that issued it: the leaf "CN=aki.example.com" names the authority key identifier 01:02:03:04`,
			isIncomplete},
		{"intermediate without the CA bit", testpki.Certs(leafOfNotCA, notCA), with("fail chain"),
			`certificate 2 "CN=Not A CA" is not a CA certificate (its basic constraints lack CA:TRUE), so it cannot issue the leaf "CN=a.example.com": strict clients refuse the chain ("invalid CA certificate"); the CA's certificate is unfit`,
			isRejected},
		{"intermediate without certificate signing", testpki.Certs(leafOfNoSign, noSign), with("fail chain"),
			`certificate 2 "CN=No CertSign" is a CA certificate whose key usage (CRL signing) does not allow certificate signing (keyCertSign)`,
			isRejected},
		{"private root not trusted, sent", testpki.Certs(leafOfPrivate, privateInt, private), with("fail chain"),
			`untrusted root: the chain ends at the self-signed certificate 3 "CN=Private Root", which is not in the trust store; if it is your private or staging CA's root, trust it`,
			isIncomplete},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := Judge(tc.certs, "", p.opts())
			checkReport(t, r, tc.want, []string{tc.contains})
			if err := r.Err(false); err == nil || !tc.err(err) {
				t.Errorf("Err() = %v: the chain judge's verdict is not behind it", err)
			}
			if m := messages(r); strings.Contains(m, "get it from your CA") || strings.Contains(m, "unknown authority") {
				t.Errorf("the message points at a missing intermediate:\n%s", m)
			}
		})
	}
}

func isIncomplete(err error) bool {
	var inc *chain.IncompleteError
	return errors.As(err, &inc)
}

func isRejected(err error) bool { return errors.Is(err, chain.ErrRejected) }

func TestJudgeUsage(t *testing.T) {
	p := newPKI(t)
	b := testpki.New(t, testNow)
	leaf := func(opts ...testpki.Option) []*x509.Certificate {
		return testpki.Certs(b.Issue(p.int, append([]testpki.Option{testpki.CN("u.example.com"), testpki.Names("u.example.com")}, opts...)...), p.int)
	}
	tests := []struct {
		desc     string
		certs    []*x509.Certificate
		want     []string
		contains string
	}{
		{"RSA leaf for certificate signing only", leaf(testpki.Key(testpki.RSA2048), testpki.KeyUsage(x509.KeyUsageCertSign)), with("fail usage"),
			"the leaf's key usage allows only certificate signing, not digital signature"},
		{"RSA leaf for key encipherment only", leaf(testpki.Key(testpki.RSA2048), testpki.KeyUsage(x509.KeyUsageKeyEncipherment)), with("fail usage"),
			"the leaf's key usage allows only key encipherment, not digital signature: TLS 1.3 and ECDHE handshakes sign with the key"},
		{"ECDSA leaf without digital signature", leaf(testpki.KeyUsage(x509.KeyUsageKeyAgreement)), with("fail usage"),
			"allows only key agreement, not digital signature"},
		{"client authentication only", leaf(testpki.ExtKeyUsage(x509.ExtKeyUsageClientAuth)), with("fail usage"),
			"the leaf's extended key usage is clientAuth, without server authentication (serverAuth): every strict client refuses it"},
		{"any extended key usage only", leaf(testpki.ExtKeyUsage(x509.ExtKeyUsageAny)), with("fail usage"),
			"anyExtendedKeyUsage, without server authentication (serverAuth): OpenSSL-based clients (curl, Python, Android) refuse it"},
		{"no usage extensions at all", leaf(testpki.KeyUsage(0), testpki.ExtKeyUsage()), ok,
			"fit for a TLS server: key usage any (no key usage extension); extended key usage any (no extended key usage extension)"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			checkReport(t, Judge(tc.certs, "", p.opts()), tc.want, []string{tc.contains})
		})
	}
}

func TestJudgeMustStaple(t *testing.T) {
	p := newPKI(t)
	staple := testpki.New(t, testNow).Issue(p.int, testpki.CN("s.example.com"), testpki.Names("s.example.com"), testpki.MustStaple())
	tests := []struct {
		desc     string
		report   *Report
		want     []string
		contains string
	}{
		{"served without a stapled response", Judge(testpki.Certs(staple, p.int), "", p.opts()), with("fail ocsp"),
			"the server staples no OCSP response, and the leaf requires a stapled OCSP response (must-staple, RFC 7633): gnutls refuses it"},
		{"served with one", judgeServed(served{certs: testpki.Certs(staple, p.int), ocsp: []byte{0x30}}, "", p.opts()), with("pass ocsp"),
			"the server staples one"},
		{"stored: nginx may staple", JudgeStored(testpki.PEM(staple, p.int), staple.KeyPEM(), []string{"s.example.com"}, p.opts()),
			with("warn ocsp", "pass names", "pass key"), "Let's Encrypt has ended OCSP"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			tc.report.sortFindings()
			checkReport(t, tc.report, tc.want, []string{tc.contains})
		})
	}
}

func TestJudgeSelfSigned(t *testing.T) {
	self := issue(t, nil, spec{cn: "self.example.com", names: []string{"self.example.com"}})
	r := Judge(testpki.Certs(self), "self.example.com", Options{Roots: x509.NewCertPool(), Now: testNow})
	checkReport(t, r, with("fail chain", "pass names"),
		[]string{`self-signed: "CN=self.example.com" is its own issuer and not in the trust store`})

	p := newPKI(t)
	other := newPKI(t)
	r = Judge(testpki.Certs(p.leaf, p.int, p.root), "shop.example.com", other.opts())
	checkReport(t, r, with("fail chain", "pass names"),
		[]string{`untrusted root: the chain ends at the self-signed certificate 3 "CN=Test Root CA"`})
}

func TestJudgeValidity(t *testing.T) {
	p := newPKI(t)
	expiredLeaf := issue(t, p.int, spec{cn: "old.example.com", names: []string{"old.example.com"},
		notBefore: testNow.AddDate(0, 0, -100), notAfter: testNow.AddDate(0, 0, -10)})
	futureLeaf := issue(t, p.int, spec{cn: "new.example.com", names: []string{"new.example.com"},
		notBefore: testNow.AddDate(0, 0, 2), notAfter: testNow.AddDate(0, 0, 90)})
	soonLeaf := issue(t, p.int, spec{cn: "soon.example.com", names: []string{"soon.example.com"},
		notBefore: testNow.AddDate(0, 0, -80), notAfter: testNow.AddDate(0, 0, 10)})
	expiredInt := issue(t, p.root, spec{cn: "Expired Intermediate",
		notBefore: testNow.AddDate(-3, 0, 0), notAfter: testNow.AddDate(0, 0, -1)})
	leafOfExpired := issue(t, expiredInt, spec{cn: "e.example.com", names: []string{"e.example.com"},
		notBefore: testNow.AddDate(0, 0, -30), notAfter: testNow.AddDate(0, 0, 60)})
	shortInt := issue(t, p.root, spec{cn: "Short Intermediate", notAfter: testNow.AddDate(0, 0, 20)})
	leafOfShort := issue(t, shortInt, spec{cn: "s.example.com", names: []string{"s.example.com"}})
	fresh24h := issue(t, p.int, spec{cn: "day.example.com", names: []string{"day.example.com"},
		notBefore: testNow.Add(-time.Hour), notAfter: testNow.Add(23 * time.Hour)})
	old24h := issue(t, p.int, spec{cn: "late.example.com", names: []string{"late.example.com"},
		notBefore: testNow.Add(-20 * time.Hour), notAfter: testNow.Add(4 * time.Hour)})

	tests := []struct {
		desc     string
		certs    []*x509.Certificate
		warnDays int
		want     []string
		contains string
	}{
		{"expired leaf", testpki.Certs(expiredLeaf, p.int), AutoWarn, with("fail validity"),
			`the leaf "CN=old.example.com" expired at 2026-11-11T16:00:00Z (10 days ago): renew it`},
		{"not yet valid leaf", testpki.Certs(futureLeaf, p.int), AutoWarn, with("fail validity"),
			`the leaf "CN=new.example.com" is not valid before 2026-11-23T16:00:00Z (in 2 days)`},
		{"expires within the default 14 days", testpki.Certs(soonLeaf, p.int), AutoWarn, with("warn validity"),
			"expires soon: valid until 2026-12-01T16:00:00Z, 10 days left (warning below 14 days)"},
		{"expires within --warn-days", testpki.Certs(p.leaf, p.int), 90, with("warn validity"),
			"60 days left (warning below 90 days)"},
		{"--warn-days 0 never warns", testpki.Certs(soonLeaf, p.int), 0, ok, "10 days left"},
		{"valid", testpki.Certs(p.leaf, p.int), AutoWarn, ok,
			"valid until 2027-01-20T16:00:00Z (60 days left)"},
		{"a fresh 24-hour certificate does not warn, in hours", testpki.Certs(fresh24h, p.int), AutoWarn, ok,
			"valid until 2026-11-22T15:00:00Z (23 hours left)"},
		{"a 24-hour certificate warns with a third of its lifetime left", testpki.Certs(old24h, p.int), AutoWarn, with("warn validity"),
			"4 hours left (warning below 8 hours, a third of its lifetime of 24 hours)"},
		{"expired intermediate", testpki.Certs(leafOfExpired, expiredInt), AutoWarn, with("fail validity", "pass validity"),
			`intermediate "CN=Expired Intermediate" expired at 2026-11-20T16:00:00Z`},
		{"intermediate expires before the leaf", testpki.Certs(leafOfShort, shortInt), AutoWarn, with("warn validity", "pass validity"),
			`intermediate "CN=Short Intermediate" expires at 2026-12-11T16:00:00Z, before the leaf (2027-01-20T16:00:00Z)`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			opts := p.opts()
			opts.WarnDays = tc.warnDays
			checkReport(t, Judge(tc.certs, "", opts), tc.want, []string{tc.contains})
		})
	}
}

func TestJudgeProtocols(t *testing.T) {
	tr, fa := &yes, &no
	v := func(version uint16, accepted *bool, reason string) versionResult {
		return versionResult{version: version, accepted: accepted, reason: reason}
	}
	legacy := versionResult{version: v12, accepted: tr, legacy: "TLS_RSA_WITH_AES_128_CBC_SHA"}
	tests := []struct {
		desc     string
		results  []versionResult
		want     []string
		contains string
	}{
		{"modern", []versionResult{v(v10, fa, "x"), v(v11, fa, "x"), v(v12, tr, ""), v(v13, tr, "")},
			[]string{"pass protocol"}, "accepted: TLS 1.2, TLS 1.3; refused: TLS 1.0, TLS 1.1"},
		{"TLS 1.3 only", []versionResult{v(v10, fa, "x"), v(v11, fa, "x"), v(v12, fa, "remote error: tls: protocol version not supported"), v(v13, tr, "")},
			[]string{"fail protocol"}, `TLS 1.2 refused (remote error: tls: protocol version not supported; accepted: TLS 1.3): compatibility rule "TLS 1.2 required"`},
		{"TLS 1.2 handshakes fail although the version is spoken", []versionResult{v(v10, fa, "x"), v(v11, fa, "x"), v(v12, fa, "remote error: tls: handshake failure"), v(v13, tr, "")},
			[]string{"fail protocol"}, "agrees on no cipher suite and certificate with TLS 1.2 clients; check ssl_ciphers, and that the certificate may be used with TLS 1.2 (see the usage finding)"},
		{"legacy suites only, no TLS 1.3", []versionResult{v(v10, fa, "x"), v(v11, fa, "x"), legacy, v(v13, fa, "x")},
			[]string{"fail protocol"}, "TLS 1.2 is accepted only with the legacy cipher suite TLS_RSA_WITH_AES_128_CBC_SHA, which Go's default client and gnutls do not offer, and TLS 1.3 is not accepted"},
		{"legacy suites only, with TLS 1.3", []versionResult{v(v10, fa, "x"), v(v11, fa, "x"), legacy, v(v13, tr, "")},
			[]string{"warn protocol"}, "in nginx: ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:"},
		{"old versions accepted", []versionResult{v(v10, tr, ""), v(v11, tr, ""), v(v12, tr, ""), v(v13, fa, "x")},
			[]string{"warn protocol"}, "TLS 1.0 and TLS 1.1 accepted: deprecated (RFC 8996)"},
		{"not probed", []versionResult{v(v10, nil, "this TLS client cannot offer it (x)"), v(v11, fa, "x"), v(v12, tr, ""), v(v13, tr, "")},
			[]string{"warn protocol"}, "TLS 1.0 not probed: this TLS client cannot offer it (x)"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := &Report{}
			judgeProtocols(r, tc.results)
			checkReport(t, r, tc.want, []string{tc.contains})
		})
	}
}

func TestClassifyNotProbed(t *testing.T) {
	h := handshakeResult{spec: probeSpec{version: v10}, err: errTest("tls: no supported versions satisfy MinVersion and MaxVersion")}
	v := h.classify(DefaultTimeout)
	if v.accepted != nil || !strings.Contains(v.reason, "this TLS client cannot offer it") {
		t.Errorf("classify = %+v, want not probed", v)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestNormalizeSerial(t *testing.T) {
	for in, want := range map[string]string{"0A:BC:01": "abc01", "00": "0", "fa": "fa", "": "0"} {
		if got := normalizeSerial(in); got != want {
			t.Errorf("normalizeSerial(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJudgeExpiredTrustedRoot(t *testing.T) {
	oldRoot := issue(t, nil, spec{cn: "Old Root", notBefore: testNow.AddDate(-20, 0, 0), notAfter: testNow.AddDate(0, 0, -1)})
	inter := issue(t, oldRoot, spec{cn: "Int", notBefore: testNow.AddDate(-2, 0, 0), notAfter: testNow.AddDate(1, 0, 0)})
	leaf := issue(t, inter, spec{cn: "a.example.com", names: []string{"a.example.com"}})
	r := Judge(testpki.Certs(leaf, inter), "", Options{Roots: testpki.Pool(oldRoot), Now: testNow})
	checkReport(t, r, with("fail chain"), []string{`not trusted: the trust store has a root named like the issuer "CN=Old Root" of certificate 2 "CN=Int", but it does not verify it: "CN=Old Root" is valid from 2006-11-21T16:00:00Z to 2026-11-20T16:00:00Z, not at 2026-11-21T16:00:00Z: update the trust store`})
	if strings.Contains(messages(r), "incomplete") {
		t.Errorf("an expired trusted root is reported as a missing certificate:\n%s", messages(r))
	}
}

func TestJudgeNames(t *testing.T) {
	p := newPKI(t)
	wild := issue(t, p.int, spec{cn: "*.example.com", names: []string{"*.example.com"}})
	oneLabel := issue(t, p.int, spec{cn: "*.test", names: []string{"*.test"}})
	exactToo := issue(t, p.int, spec{cn: "*.lan", names: []string{"*.lan", "nas.lan"}})
	ipLeaf := issue(t, p.int, spec{cn: "ip", ips: []net.IP{net.ParseIP("127.0.0.1")}})
	local := issue(t, p.int, spec{cn: "localhost", names: []string{"localhost"}})
	cnOnly := issue(t, p.int, spec{cn: "cn.example.com", more: []testpki.Option{testpki.CA(false)}})
	tests := []struct {
		desc     string
		leaf     *testpki.Cert
		host     string
		want     []string
		contains string
	}{
		{"exact", p.leaf, "www.shop.example.com", []string{"pass names"}, "www.shop.example.com is covered by the SAN www.shop.example.com"},
		{"case and trailing dot", p.leaf, "Shop.Example.COM.", []string{"pass names"}, "shop.example.com is covered"},
		{"mismatch", p.leaf, "shop.example.org", []string{"fail names"},
			"shop.example.org is not covered by the certificate's names (shop.example.com, www.shop.example.com)"},
		{"wildcard match", wild, "a.example.com", []string{"pass names"}, "a.example.com is covered by the SAN *.example.com"},
		{"wildcard one label only", wild, "a.b.example.com", []string{"fail names"},
			"a wildcard covers one label only: *.example.com covers x.example.com, not a.b.example.com"},
		{"wildcard does not cover the apex", wild, "example.com", []string{"fail names"}, "*.example.com does not cover example.com itself"},
		{"wildcard under a one-label suffix", oneLabel, "a.test", []string{"fail names"},
			"a.test is covered only by the wildcard *.test, directly under a one-label suffix: Go and Java accept it, but OpenSSL-based clients (curl, Python, Android) and gnutls refuse it; list a.test itself"},
		{"an exact SAN next to such a wildcard", exactToo, "nas.lan", []string{"pass names"}, "nas.lan is covered by the SAN nas.lan"},
		{"name only in the subject CN", cnOnly, "cn.example.com", []string{"fail names"},
			"the name is only in the subject CN, which Go ignores and clients following RFC 6125 do not use"},
		{"IP address", ipLeaf, "127.0.0.1", []string{"warn names", "pass names"}, "WeChat mini-programs refuse IP addresses and localhost"},
		{"IP address not in SANs", p.leaf, "10.0.0.1", []string{"fail names", "warn names"}, "an IP address needs an IP address SAN"},
		{"localhost", local, "localhost", []string{"warn names", "pass names"}, "localhost is localhost: WeChat"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := &Report{}
			judgeHost(r, tc.leaf.Cert, tc.host)
			r.sortFindings()
			checkReport(t, r, tc.want, []string{tc.contains})
		})
	}
}

func TestMatchName(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"a.example.com", "a.example.com", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "example.com", false},
		{"*.example.com", ".example.com", false},
		{"*.example.com", "*.example.com", true},
		{"*.example.com", "*.b.example.com", false},
		{"a*.example.com", "ab.example.com", false},
		{"*", "localhost", false},
	}
	for _, tc := range tests {
		if got := matchName(tc.pattern, tc.name); got != tc.want {
			t.Errorf("matchName(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestJudgeCrypto(t *testing.T) {
	p := newPKI(t)
	sha1Int := issue(t, p.root, spec{cn: "SHA-1 Intermediate", sigAlg: x509.ECDSAWithSHA1})
	leafOfSHA1 := issue(t, sha1Int, spec{cn: "old.example.com", names: []string{"old.example.com"}})
	rsa1024 := issue(t, p.int, spec{cn: "weak.example.com", names: []string{"weak.example.com"}, key: testpki.RSA1024})
	p224 := issue(t, p.int, spec{cn: "p224.example.com", names: []string{"p224.example.com"}, key: testpki.ECDSAP224})
	rootSHA1 := issue(t, nil, spec{cn: "Old Root", sigAlg: x509.ECDSAWithSHA1})
	intOfOldRoot := issue(t, rootSHA1, spec{cn: "Modern Intermediate"})
	leafOfOldRoot := issue(t, intOfOldRoot, spec{cn: "m.example.com", names: []string{"m.example.com"}})

	tests := []struct {
		desc     string
		certs    []*x509.Certificate
		roots    *x509.CertPool
		want     []string
		contains []string
	}{
		{"SHA-1 intermediate", testpki.Certs(leafOfSHA1, sha1Int), nil, with("fail chain", "fail crypto"), []string{
			`"CN=SHA-1 Intermediate" is signed with ECDSA-SHA1: SHA-1 and MD5 signatures are rejected`,
			`not trusted: the trust store has a root named like the issuer "CN=Test Root CA" of certificate 2 "CN=SHA-1 Intermediate", but it does not verify it: cannot verify signature: insecure algorithm ECDSA-SHA1`,
		}},
		{"RSA 1024 leaf", testpki.Certs(rsa1024, p.int), nil, with("fail crypto"), []string{
			`leaf "CN=weak.example.com" has an RSA 1024-bit key: Apple ATS`,
		}},
		{"EC P-224 leaf", testpki.Certs(p224, p.int), nil, with("fail crypto"), []string{
			`leaf "CN=p224.example.com" has an ECDSA P-224 key`,
		}},
		{"SHA-1 self-signature of a trusted root is not judged", testpki.Certs(leafOfOldRoot, intOfOldRoot), testpki.Pool(rootSHA1),
			ok, []string{"leaf key ECDSA P-256; signatures ECDSA-SHA256"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			opts := p.opts()
			if tc.roots != nil {
				opts.Roots = tc.roots
			}
			checkReport(t, Judge(tc.certs, "", opts), tc.want, tc.contains)
		})
	}
}

func TestJudgeStored(t *testing.T) {
	p := newPKI(t)
	domains := []string{"shop.example.com", "www.shop.example.com"}
	other := newKey(t, testpki.ECDSAP256)
	stored := func(extra ...string) []string { return with(append([]string{"pass names"}, extra...)...) }
	tests := []struct {
		desc      string
		fullchain []byte
		key       []byte
		domains   []string
		want      []string
		contains  string
	}{
		{"good", testpki.PEM(p.leaf, p.int), p.leaf.KeyPEM(), domains, stored("pass key"),
			"covers the configured names shop.example.com, www.shop.example.com"},
		{"key mismatch", testpki.PEM(p.leaf, p.int), testpki.KeyPEM(other), domains, stored("fail key"),
			"privkey.pem (ECDSA P-256) does not match the leaf's key (ECDSA P-256): nginx would refuse to load the pair"},
		{"domain added since issue", testpki.PEM(p.leaf, p.int), p.leaf.KeyPEM(), append(domains, "new.example.com"),
			with("fail names", "pass key"), "does not cover new.example.com"},
		{"leaf only", testpki.PEM(p.leaf), p.leaf.KeyPEM(), domains, stored("fail chain", "pass key"), "incomplete: no certificate for issuer"},
		{"intermediate first, leaf second: the leaf is judged", testpki.PEM(p.int, p.leaf), p.leaf.KeyPEM(), domains,
			stored("fail chain", "pass key"), `the leaf "CN=shop.example.com" is certificate 2, after the CA certificate "CN=Test Intermediate": put the leaf first`},
		{"garbage", []byte("not pem"), p.leaf.KeyPEM(), domains, []string{"fail files"}, "fullchain.pem:"},
		{"bad key", testpki.PEM(p.leaf, p.int), []byte("nope"), domains, stored("fail key"), "privkey.pem: no PEM block"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := JudgeStored(tc.fullchain, tc.key, tc.domains, p.opts())
			checkReport(t, r, tc.want, []string{tc.contains})
			if r.Source != Stored {
				t.Errorf("source = %q", r.Source)
			}
			for _, bad := range []string{"unrelated", "domains changed", "expires", "2029"} {
				if strings.Contains(messages(r), bad) && tc.desc == "intermediate first, leaf second: the leaf is judged" {
					t.Errorf("the misplaced leaf is judged as something else (%q):\n%s", bad, messages(r))
				}
			}
		})
	}
}

func TestJudgeStoredWildcards(t *testing.T) {
	p := newPKI(t)
	wild := issue(t, p.int, spec{cn: "*.example.com", names: []string{"*.example.com", "example.com"}})
	r := JudgeStored(testpki.PEM(wild, p.int), wild.KeyPEM(), []string{"*.example.com", "example.com"}, p.opts())
	checkReport(t, r, with("pass names", "pass key"), nil)
	r = JudgeStored(testpki.PEM(wild, p.int), wild.KeyPEM(), []string{"*.a.example.com"}, p.opts())
	checkReport(t, r, with("fail names", "pass key"), []string{"does not cover *.a.example.com"})
	lan := issue(t, p.int, spec{cn: "*.lan", names: []string{"*.lan"}})
	r = JudgeStored(testpki.PEM(lan, p.int), lan.KeyPEM(), []string{"*.lan"}, p.opts())
	checkReport(t, r, with("fail names", "pass key"), []string{"the configured domain *.lan is a wildcard directly under a one-label suffix"})
}

func TestJudgeFile(t *testing.T) {
	p := newPKI(t)
	lan := issue(t, p.int, spec{cn: "*.lan", names: []string{"*.lan"}})
	tests := []struct {
		desc      string
		fullchain []byte
		key       []byte
		want      []string
		contains  string
	}{
		{"chain alone", testpki.PEM(p.leaf, p.int), nil, with("pass names"), "names shop.example.com, www.shop.example.com"},
		{"chain and its key", testpki.PEM(p.leaf, p.int), p.leaf.KeyPEM(), with("pass names", "pass key"), "the key file matches the leaf"},
		{"another key", testpki.PEM(p.leaf, p.int), testpki.KeyPEM(newKey(t, testpki.RSA2048)), with("pass names", "fail key"),
			"the key file (RSA 2048-bit) does not match the leaf's key (ECDSA P-256)"},
		{"leaf only", testpki.PEM(p.leaf), nil, with("fail chain", "pass names"), "send it after the leaf"},
		{"a key where the chain belongs", p.leaf.KeyPEM(), nil, []string{"fail files"},
			"the file: PEM block 1 is a private key (\"PRIVATE KEY\"): a certificate chain must not carry a key"},
		{"a wildcard strict clients refuse", testpki.PEM(lan, p.int), nil, with("warn names", "pass names"), "the SAN *.lan is a wildcard directly under a one-label suffix"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := JudgeFile(tc.fullchain, tc.key, p.opts())
			checkReport(t, r, tc.want, []string{tc.contains})
			if r.Source != File {
				t.Errorf("source = %q", r.Source)
			}
			if strings.Contains(messages(r), "BEGIN") {
				t.Errorf("a finding quotes the file:\n%s", messages(r))
			}
		})
	}
}

func TestJudgeNoCertificates(t *testing.T) {
	r := Judge(nil, "a.example.com", Options{Now: testNow})
	checkReport(t, r, []string{"fail chain"}, []string{"no certificate was sent"})
}
