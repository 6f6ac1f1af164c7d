package check

import (
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
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

var allPass = []string{"pass chain", "pass names", "pass validity", "pass crypto"}

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
			certs:    certs(p.leaf, p.int),
			want:     allPass,
			contains: []string{`complete: CN=shop.example.com -> CN=Test Intermediate -> CN=Test Root CA (trust store)`},
			path: []PathEntry{
				{"CN=shop.example.com", FromChain}, {"CN=Test Intermediate", FromChain}, {"CN=Test Root CA", FromTrustStore},
			},
		},
		{
			desc:  "missing intermediate, leaf names AIA",
			certs: certs(p.leaf),
			want:  []string{"fail chain", "pass names", "pass validity", "pass crypto"},
			contains: []string{`incomplete: no certificate for issuer "CN=Test Intermediate" of "CN=shop.example.com" (the leaf names ` +
				leafAIA + ` as where to fetch it; strict clients like WeChat, Android and curl do not fetch it)`},
			path: []PathEntry{{"CN=shop.example.com", FromChain}, {"CN=Test Intermediate", FromMissing}},
		},
		{
			desc:     "missing upper intermediate, without AIA",
			certs:    certs(p.leaf2, p.int2),
			want:     []string{"fail chain", "pass validity", "pass crypto"},
			contains: []string{`no certificate for issuer "CN=Test Intermediate 1" of "CN=Test Intermediate 2" ("CN=Test Intermediate 2" names no URL to fetch it from`},
		},
		{
			desc:     "wrong order",
			certs:    certs(p.leaf2, p.int1, p.int2),
			want:     []string{"fail chain", "pass chain", "pass validity", "pass crypto"},
			contains: []string{"wrong order: the path is CN=deep.example.com (sent as 1) -> CN=Test Intermediate 2 (sent as 3) -> CN=Test Intermediate 1 (sent as 2)"},
		},
		{
			desc:     "root sent",
			certs:    certs(p.leaf, p.int, p.root),
			want:     []string{"warn chain", "pass chain", "pass names", "pass validity", "pass crypto"},
			contains: []string{`root sent needlessly: certificate 3 "CN=Test Root CA" is a trust anchor`},
		},
		{
			desc:     "unrelated and duplicate certificates",
			certs:    certs(p.leaf, p.int, unrelated, p.int),
			want:     []string{"warn chain", "warn chain", "pass chain", "pass names", "pass validity", "pass crypto"},
			contains: []string{`certificate 3 "CN=Unrelated Intermediate" is unrelated to this chain`, `certificate 4 "CN=Test Intermediate" is sent twice (also as 2)`},
		},
		{
			desc:     "CA certificate first",
			certs:    certs(p.int, p.leaf),
			want:     []string{"fail chain", "warn chain", "pass chain", "fail names", "pass validity", "pass crypto"},
			contains: []string{`the first certificate "CN=Test Intermediate" is a CA certificate`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			host := "shop.example.com"
			if tc.certs[0] == p.leaf2.cert {
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

func TestJudgeSelfSigned(t *testing.T) {
	self := issue(t, nil, spec{cn: "self.example.com", names: []string{"self.example.com"}})
	r := Judge(certs(self), "self.example.com", Options{Roots: x509.NewCertPool(), Now: testNow})
	checkReport(t, r, []string{"fail chain", "pass names", "pass validity", "pass crypto"},
		[]string{`self-signed: "CN=self.example.com" is its own issuer and not in the trust store`})

	p := newPKI(t)
	other := newPKI(t)
	r = Judge(certs(p.leaf, p.int, p.root), "shop.example.com", other.opts())
	checkReport(t, r, []string{"fail chain", "pass names", "pass validity", "pass crypto"},
		[]string{`untrusted root: the chain ends at the self-signed "CN=Test Root CA"`})
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

	tests := []struct {
		desc     string
		certs    []*x509.Certificate
		want     []string
		contains string
	}{
		{"expired leaf", certs(expiredLeaf, p.int), []string{"pass chain", "fail validity", "pass crypto"},
			"expired at 2026-11-11T16:00:00Z (10 days ago)"},
		{"not yet valid leaf", certs(futureLeaf, p.int), []string{"pass chain", "fail validity", "pass crypto"},
			"not valid yet: the certificate is valid from 2026-11-23T16:00:00Z"},
		{"expires within warn days", certs(soonLeaf, p.int), []string{"pass chain", "warn validity", "pass crypto"},
			"expires soon: valid until 2026-12-01T16:00:00Z, 10 days left (warning below 14 days)"},
		{"valid", certs(p.leaf, p.int), []string{"pass chain", "pass validity", "pass crypto"},
			"valid until 2027-01-20T16:00:00Z (60 days left)"},
		{"expired intermediate", certs(leafOfExpired, expiredInt), []string{"pass chain", "fail validity", "pass validity", "pass crypto"},
			`intermediate "CN=Expired Intermediate" expired at 2026-11-20T16:00:00Z`},
		{"intermediate expires before the leaf", certs(leafOfShort, shortInt), []string{"pass chain", "warn validity", "pass validity", "pass crypto"},
			`intermediate "CN=Short Intermediate" expires at 2026-12-11T16:00:00Z, before the leaf (2027-01-20T16:00:00Z)`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			checkReport(t, Judge(tc.certs, "", p.opts()), tc.want, []string{tc.contains})
		})
	}
}

func TestJudgeNames(t *testing.T) {
	p := newPKI(t)
	wild := issue(t, p.int, spec{cn: "*.example.com", names: []string{"*.example.com"}})
	ipLeaf := issue(t, p.int, spec{cn: "ip", ips: []net.IP{net.ParseIP("127.0.0.1")}})
	local := issue(t, p.int, spec{cn: "localhost", names: []string{"localhost"}})
	tests := []struct {
		desc     string
		leaf     *testCert
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
		{"IP address", ipLeaf, "127.0.0.1", []string{"warn names", "pass names"}, "WeChat mini-programs refuse IP addresses and localhost"},
		{"IP address not in SANs", p.leaf, "10.0.0.1", []string{"fail names", "warn names"}, "an IP address needs an IP address SAN"},
		{"localhost", local, "localhost", []string{"warn names", "pass names"}, "localhost is localhost: WeChat"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := &Report{}
			judgeHost(r, tc.leaf.cert, tc.host)
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
	rsa1024 := issue(t, p.int, spec{cn: "weak.example.com", names: []string{"weak.example.com"}, key: "rsa1024"})
	p224 := issue(t, p.int, spec{cn: "p224.example.com", names: []string{"p224.example.com"}, key: "p224"})
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
		{"SHA-1 intermediate", certs(leafOfSHA1, sha1Int), nil, []string{"fail chain", "pass validity", "fail crypto"}, []string{
			`not trusted: "CN=SHA-1 Intermediate" is signed with ECDSA-SHA1, which current clients reject`,
			`"CN=SHA-1 Intermediate" is signed with ECDSA-SHA1: SHA-1 and MD5 signatures are rejected`,
		}},
		{"RSA 1024 leaf", certs(rsa1024, p.int), nil, []string{"pass chain", "pass validity", "fail crypto"}, []string{
			`leaf "CN=weak.example.com" has an RSA 1024-bit key: Apple ATS`,
		}},
		{"EC P-224 leaf", certs(p224, p.int), nil, []string{"pass chain", "pass validity", "fail crypto"}, []string{
			`leaf "CN=p224.example.com" has an ECDSA P-224 key`,
		}},
		{"SHA-1 self-signature of a trusted root is not judged", certs(leafOfOldRoot, intOfOldRoot), pool(rootSHA1.cert),
			[]string{"pass chain", "pass validity", "pass crypto"}, []string{"leaf key ECDSA P-256; signatures ECDSA-SHA256"}},
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
	other := newKey(t, "")
	tests := []struct {
		desc      string
		fullchain []byte
		key       []byte
		domains   []string
		want      []string
		contains  string
	}{
		{"good", pemCerts(p.leaf, p.int), pemKey(t, p.leaf.key), domains,
			[]string{"pass chain", "pass names", "pass validity", "pass crypto", "pass key"}, "covers the configured names shop.example.com, www.shop.example.com"},
		{"key mismatch", pemCerts(p.leaf, p.int), pemKey(t, other), domains,
			[]string{"pass chain", "pass names", "pass validity", "pass crypto", "fail key"}, "privkey.pem does not match the leaf"},
		{"domain added since issue", pemCerts(p.leaf, p.int), pemKey(t, p.leaf.key), append(domains, "new.example.com"),
			[]string{"pass chain", "fail names", "pass validity", "pass crypto", "pass key"}, "does not cover new.example.com"},
		{"leaf only", pemCerts(p.leaf), pemKey(t, p.leaf.key), domains,
			[]string{"fail chain", "pass names", "pass validity", "pass crypto", "pass key"}, "incomplete: no certificate for issuer"},
		{"garbage", []byte("not pem"), pemKey(t, p.leaf.key), domains, []string{"fail files"}, "fullchain.pem:"},
		{"bad key", pemCerts(p.leaf, p.int), []byte("nope"), domains,
			[]string{"pass chain", "pass names", "pass validity", "pass crypto", "fail key"}, "privkey.pem: no PEM block"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := JudgeStored(tc.fullchain, tc.key, tc.domains, p.opts())
			checkReport(t, r, tc.want, []string{tc.contains})
			if r.Source != Stored {
				t.Errorf("source = %q", r.Source)
			}
		})
	}
}

func TestJudgeWildcardDomainStored(t *testing.T) {
	p := newPKI(t)
	wild := issue(t, p.int, spec{cn: "*.example.com", names: []string{"*.example.com", "example.com"}})
	r := JudgeStored(pemCerts(wild, p.int), pemKey(t, wild.key), []string{"*.example.com", "example.com"}, p.opts())
	checkReport(t, r, []string{"pass chain", "pass names", "pass validity", "pass crypto", "pass key"}, nil)
	r = JudgeStored(pemCerts(wild, p.int), pemKey(t, wild.key), []string{"*.a.example.com"}, p.opts())
	checkReport(t, r, []string{"pass chain", "fail names", "pass validity", "pass crypto", "pass key"}, []string{"does not cover *.a.example.com"})
}

func TestJudgeNoCertificates(t *testing.T) {
	r := Judge(nil, "a.example.com", Options{Now: testNow})
	checkReport(t, r, []string{"fail chain"}, []string{"no certificate was sent"})
}

func TestJudgeProtocols(t *testing.T) {
	tr, fa := &yes, &no
	tests := []struct {
		desc     string
		results  []versionResult
		want     []string
		contains string
	}{
		{"modern", []versionResult{{0x0301, fa, "x"}, {0x0302, fa, "x"}, {0x0303, tr, ""}, {0x0304, tr, ""}},
			[]string{"pass protocol"}, "accepted: TLS 1.2, TLS 1.3; refused: TLS 1.0, TLS 1.1"},
		{"TLS 1.3 only", []versionResult{{0x0301, fa, "x"}, {0x0302, fa, "x"}, {0x0303, fa, "remote error: tls: protocol version not supported"}, {0x0304, tr, ""}},
			[]string{"fail protocol"}, "TLS 1.2 refused (remote error: tls: protocol version not supported; accepted: TLS 1.3): WeChat and iOS require TLS 1.2"},
		{"old versions accepted", []versionResult{{0x0301, tr, ""}, {0x0302, tr, ""}, {0x0303, tr, ""}, {0x0304, fa, "x"}},
			[]string{"warn protocol"}, "TLS 1.0 and TLS 1.1 accepted: deprecated (RFC 8996)"},
		{"not probed", []versionResult{{0x0301, nil, "this TLS client cannot offer it (x)"}, {0x0302, fa, "x"}, {0x0303, tr, ""}, {0x0304, tr, ""}},
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
	h := handshakeResult{err: errTest("tls: no supported versions satisfy MinVersion and MaxVersion")}
	v := h.classify(0x0301, DefaultTimeout)
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
	r := Judge(certs(leaf, inter), "", Options{Roots: pool(oldRoot.cert), Now: testNow})
	checkReport(t, r, []string{"fail chain", "pass validity", "pass crypto"}, []string{`not trusted: "CN=Old Root": x509: certificate has expired`})
	if strings.Contains(messages(r), "incomplete") {
		t.Errorf("an expired trusted root is reported as a missing certificate:\n%s", messages(r))
	}
}
