package clients

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// served is one certificate of a server block: the chain as nginx sends it
// (leaf first) and the leaf's key.
type served struct {
	chain []*testpki.Cert
}

// scenario is one server block of the matrix and what renewd must say
// about it.
type scenario struct {
	name      string
	host      string   // the name clients ask for
	certs     []served // one, or two for an ECDSA and an RSA certificate
	protocols string   // ssl_protocols; default TLSv1.2 TLSv1.3
	ciphers   string   // ssl_ciphers; default nginx's
	strict    bool     // renewd check --strict must pass too (no warnings)

	// want is renewd's verdict without --strict: "pass", "warn" (pass with
	// warnings) or "fail".
	want string
	// finding is "check severity" renewd must report, e.g. "usage fail".
	finding string
	// message must appear in one of renewd's findings: what to change.
	message string
	// exception names the compatibility rule of docs/check.md under which
	// renewd fails a server that every client here accepts.
	exception string
}

// matrixPKI holds the CAs the scenarios share.
type matrixPKI struct {
	b                *testpki.Builder
	now              time.Time
	root             *testpki.Cert // the only root every client trusts
	inter            *testpki.Cert // root -> inter
	int1, int2       *testpki.Cert // root -> int1 -> int2
	other            *testpki.Cert // an intermediate of another, untrusted root
	privateRoot      *testpki.Cert // a root nobody trusts
	privateInter     *testpki.Cert
	expiredInterCopy *testpki.Cert // inter's name and key, expired
}

func newMatrixPKI(t *testing.T) *matrixPKI {
	now := time.Now().UTC().Truncate(time.Second)
	b := testpki.New(t, now)
	p := &matrixPKI{b: b, now: now}
	p.root = b.Root(testpki.CN("Clients Test Root"), testpki.Key(testpki.RSA2048),
		testpki.Validity(now.AddDate(-5, 0, 0), now.AddDate(20, 0, 0)))
	p.inter = b.Issue(p.root, testpki.CN("Clients Test Intermediate"))
	p.int1 = b.Issue(p.root, testpki.CN("Clients Test Intermediate 1"))
	p.int2 = b.Issue(p.int1, testpki.CN("Clients Test Intermediate 2"))
	otherRoot := b.Root(testpki.CN("Other Root"))
	p.other = b.Issue(otherRoot, testpki.CN("Other Intermediate"))
	p.privateRoot = b.Root(testpki.CN("Private Root"))
	p.privateInter = b.Issue(p.privateRoot, testpki.CN("Private Intermediate"))
	p.expiredInterCopy = b.Issue(p.root, testpki.CN("Clients Test Intermediate"), testpki.WithKey(p.inter.Key),
		testpki.Validity(now.AddDate(-4, 0, 0), now.AddDate(0, 0, -2)))
	return p
}

// leaf issues a leaf for host (and more options) from parent.
func (p *matrixPKI) leaf(parent *testpki.Cert, host string, opts ...testpki.Option) *testpki.Cert {
	return p.b.Issue(parent, append([]testpki.Option{testpki.CN(host), testpki.Names(host)}, opts...)...)
}

func one(chain ...*testpki.Cert) []served { return []served{{chain: chain}} }

// scenarios is the matrix. Each class of problem strict clients reject
// has at least one; the good ones prove the harness (every client must
// accept them).
func scenarios(t *testing.T, p *matrixPKI) []scenario {
	h := func(name string) string { return name + ".renewd.test" }
	var s []scenario
	add := func(sc scenario) {
		if sc.host == "" {
			sc.host = h(sc.name)
		}
		s = append(s, sc)
	}
	// Complete chains.
	add(scenario{name: "good-ecdsa", certs: one(p.leaf(p.inter, h("good-ecdsa")), p.inter), want: "pass", strict: true})
	add(scenario{name: "good-rsa", certs: one(p.leaf(p.inter, h("good-rsa"), testpki.Key(testpki.RSA2048)), p.inter), want: "pass", strict: true})
	add(scenario{name: "good-two-intermediates", certs: one(p.leaf(p.int2, h("good-two-intermediates")), p.int2, p.int1), want: "pass", strict: true})
	add(scenario{name: "good-tls12-only", protocols: "TLSv1.2", certs: one(p.leaf(p.inter, h("good-tls12-only")), p.inter), want: "pass", strict: true})
	add(scenario{name: "good-rsa-leaf-rsa-kex-usage", certs: one(p.leaf(p.inter, h("good-rsa-leaf-rsa-kex-usage"), testpki.Key(testpki.RSA2048),
		testpki.KeyUsage(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment)), p.inter), want: "pass", strict: true})
	add(scenario{name: "ed25519-leaf", certs: one(p.leaf(p.inter, h("ed25519-leaf"), testpki.Key(testpki.Ed25519)), p.inter),
		want: "warn", finding: "crypto warn", message: "Ed25519"})
	add(scenario{name: "good-p384-leaf", certs: one(p.leaf(p.inter, h("good-p384-leaf"), testpki.Key(testpki.ECDSAP384)), p.inter), want: "pass", strict: true})
	add(scenario{name: "good-short-lived", certs: one(p.leaf(p.inter, h("good-short-lived"),
		testpki.Validity(p.now.Add(-time.Hour), p.now.Add(23*time.Hour))), p.inter), want: "pass", strict: true})
	add(scenario{name: "leaf-without-key-usage", certs: one(p.leaf(p.inter, h("leaf-without-key-usage"), testpki.KeyUsage(0)), p.inter), want: "pass"})
	add(scenario{name: "leaf-without-eku", certs: one(p.leaf(p.inter, h("leaf-without-eku"), testpki.ExtKeyUsage()), p.inter), want: "pass"})
	add(scenario{name: "wildcard", host: "a.wild.renewd.test", certs: one(p.leaf(p.inter, "*.wild.renewd.test"), p.inter), want: "pass"})

	// Missing and wrong issuers.
	add(scenario{name: "leaf-only", certs: one(p.leaf(p.inter, h("leaf-only"))), want: "fail", finding: "chain fail", message: "incomplete"})
	add(scenario{name: "missing-upper-intermediate", certs: one(p.leaf(p.int2, h("missing-upper-intermediate")), p.int2),
		want: "fail", finding: "chain fail", message: `"CN=Clients Test Intermediate 1"`})
	wrongKey := p.b.Issue(p.root, testpki.CN("Clients Test Intermediate"))
	add(scenario{name: "wrong-intermediate-key", certs: one(p.leaf(p.inter, h("wrong-intermediate-key")), wrongKey),
		want: "fail", finding: "chain fail", message: "not the one that issued"})
	add(scenario{name: "wrong-key-copy-before", certs: one(p.leaf(p.inter, h("wrong-key-copy-before")), wrongKey, p.inter),
		want: "warn", finding: "chain warn", message: "remove it"})
	add(scenario{name: "wrong-key-copy-after", certs: one(p.leaf(p.inter, h("wrong-key-copy-after")), p.inter, wrongKey),
		want: "warn", finding: "chain warn", message: "remove it"})
	add(scenario{name: "aki-mismatch", certs: one(p.leaf(p.inter, h("aki-mismatch"), testpki.AuthorityKeyID([]byte{1, 2, 3, 4, 5, 6, 7, 8})), p.inter),
		want: "fail", finding: "chain fail", message: "authority key identifier"})
	add(scenario{name: "untrusted-root-not-sent", certs: one(p.leaf(p.privateInter, h("untrusted-root-not-sent")), p.privateInter),
		want: "fail", finding: "chain fail", message: "trust"})
	add(scenario{name: "untrusted-root-sent", certs: one(p.leaf(p.privateInter, h("untrusted-root-sent")), p.privateInter, p.privateRoot),
		want: "fail", finding: "chain fail", message: "untrusted root"})
	self := p.b.Root(testpki.CN(h("self-signed")), testpki.Names(h("self-signed")))
	add(scenario{name: "self-signed", certs: one(self), want: "fail", finding: "chain fail", message: "self-signed"})

	// How the chain is sent.
	add(scenario{name: "root-sent", certs: one(p.leaf(p.inter, h("root-sent")), p.inter, p.root), want: "warn", finding: "chain warn", message: "root sent"})
	add(scenario{name: "duplicate-intermediate", certs: one(p.leaf(p.inter, h("duplicate-intermediate")), p.inter, p.inter),
		want: "warn", finding: "chain warn", message: "sent twice"})
	add(scenario{name: "unrelated-extra", certs: one(p.leaf(p.inter, h("unrelated-extra")), p.inter, p.other),
		want: "warn", finding: "chain warn", message: "unrelated"})
	add(scenario{name: "wrong-order", certs: one(p.leaf(p.int2, h("wrong-order")), p.int1, p.int2),
		want: "warn", finding: "chain warn", message: "order"})

	// An ECDSA and an RSA certificate in one server block.
	add(scenario{name: "dual-rsa-leaf-only", certs: []served{
		{chain: []*testpki.Cert{p.leaf(p.inter, h("dual-rsa-leaf-only")), p.inter}},
		{chain: []*testpki.Cert{p.leaf(p.inter, h("dual-rsa-leaf-only"), testpki.Key(testpki.RSA2048))}},
	}, want: "fail", finding: "chain fail", message: "RSA"})
	add(scenario{name: "dual-ecdsa-leaf-only", certs: []served{
		{chain: []*testpki.Cert{p.leaf(p.inter, h("dual-ecdsa-leaf-only"))}},
		{chain: []*testpki.Cert{p.leaf(p.inter, h("dual-ecdsa-leaf-only"), testpki.Key(testpki.RSA2048)), p.inter}},
	}, want: "fail", finding: "chain fail", message: "ECDSA"})
	add(scenario{name: "dual-good", certs: []served{
		{chain: []*testpki.Cert{p.leaf(p.inter, h("dual-good")), p.inter}},
		{chain: []*testpki.Cert{p.leaf(p.inter, h("dual-good"), testpki.Key(testpki.RSA2048)), p.inter}},
	}, want: "pass", strict: true})

	// What the leaf may be used for.
	add(scenario{name: "rsa-ku-certsign-only", certs: one(p.leaf(p.inter, h("rsa-ku-certsign-only"), testpki.Key(testpki.RSA2048),
		testpki.KeyUsage(x509.KeyUsageCertSign)), p.inter), want: "fail", finding: "usage fail", message: "digital signature"})
	add(scenario{name: "rsa-ku-keyencipherment-only", certs: one(p.leaf(p.inter, h("rsa-ku-keyencipherment-only"), testpki.Key(testpki.RSA2048),
		testpki.KeyUsage(x509.KeyUsageKeyEncipherment)), p.inter), want: "fail", finding: "usage fail", message: "digital signature"})
	add(scenario{name: "ecdsa-ku-no-digitalsignature", certs: one(p.leaf(p.inter, h("ecdsa-ku-no-digitalsignature"),
		testpki.KeyUsage(x509.KeyUsageKeyAgreement)), p.inter), want: "fail", finding: "usage fail", message: "digital signature"})
	add(scenario{name: "eku-clientauth-only", certs: one(p.leaf(p.inter, h("eku-clientauth-only"),
		testpki.ExtKeyUsage(x509.ExtKeyUsageClientAuth)), p.inter), want: "fail", finding: "usage fail", message: "server authentication"})
	add(scenario{name: "eku-any-only", certs: one(p.leaf(p.inter, h("eku-any-only"),
		testpki.ExtKeyUsage(x509.ExtKeyUsageAny)), p.inter), want: "fail", finding: "usage fail", message: "server authentication"})
	add(scenario{name: "must-staple", certs: one(p.leaf(p.inter, h("must-staple"), testpki.MustStaple()), p.inter),
		want: "fail", finding: "ocsp fail", message: "must-staple"})

	// CA certificates unfit to issue.
	notCA := p.b.Issue(p.root, testpki.CN("Not A CA Intermediate"), testpki.CA(false))
	add(scenario{name: "intermediate-not-ca", certs: one(p.leaf(notCA, h("intermediate-not-ca")), notCA),
		want: "fail", finding: "chain fail", message: "not a CA"})
	noCertSign := p.b.Issue(p.root, testpki.CN("No CertSign Intermediate"), testpki.KeyUsage(x509.KeyUsageCRLSign))
	add(scenario{name: "intermediate-no-certsign", certs: one(p.leaf(noCertSign, h("intermediate-no-certsign")), noCertSign),
		want: "fail", finding: "chain fail", message: "certificate signing"})
	noBC := p.b.Issue(p.root, testpki.CN("No Basic Constraints Intermediate"), testpki.NoBasicConstraints())
	add(scenario{name: "intermediate-no-basic-constraints", certs: one(p.leaf(noBC, h("intermediate-no-basic-constraints")), noBC),
		want: "fail", finding: "chain fail", message: "not a CA"})
	clientInt := p.b.Issue(p.root, testpki.CN("Client Auth Intermediate"), testpki.ExtKeyUsage(x509.ExtKeyUsageClientAuth))
	add(scenario{name: "intermediate-eku-clientauth", certs: one(p.leaf(clientInt, h("intermediate-eku-clientauth")), clientInt),
		want: "fail", finding: "chain fail", message: "server authentication"})
	anyInt := p.b.Issue(p.root, testpki.CN("Any EKU Intermediate"), testpki.ExtKeyUsage(x509.ExtKeyUsageAny))
	add(scenario{name: "intermediate-eku-any", certs: one(p.leaf(anyInt, h("intermediate-eku-any")), anyInt),
		want: "fail", finding: "chain fail", message: "anyExtendedKeyUsage"})
	lenZero := p.b.Issue(p.root, testpki.CN("Path Length Zero Intermediate"), testpki.MaxPathLen(0))
	below := p.b.Issue(lenZero, testpki.CN("Below Path Length Zero"))
	add(scenario{name: "path-length-exceeded", certs: one(p.leaf(below, h("path-length-exceeded")), below, lenZero),
		want: "fail", finding: "chain fail", message: "path length"})

	// Names.
	add(scenario{name: "wildcard-one-label", host: "a.test", certs: one(p.leaf(p.inter, "*.test"), p.inter),
		want: "fail", finding: "names fail", message: "*.test"})
	add(scenario{name: "wildcard-two-levels", host: "a.b.wild2.renewd.test", certs: one(p.leaf(p.inter, "*.wild2.renewd.test"), p.inter),
		want: "fail", finding: "names fail", message: "one label"})
	add(scenario{name: "name-mismatch", certs: one(p.leaf(p.inter, "other.renewd.test"), p.inter),
		want: "fail", finding: "names fail", message: "not covered"})
	cnOnly := p.b.Issue(p.inter, testpki.CN(h("cn-only")), testpki.CA(false), testpki.KeyUsage(x509.KeyUsageDigitalSignature),
		testpki.ExtKeyUsage(x509.ExtKeyUsageServerAuth))
	add(scenario{name: "cn-only", certs: one(cnOnly, p.inter), want: "fail", finding: "names fail", message: "subject CN"})

	// Dates.
	add(scenario{name: "expired-leaf", certs: one(p.leaf(p.inter, h("expired-leaf"), testpki.Validity(p.now.AddDate(0, 0, -100), p.now.AddDate(0, 0, -10))), p.inter),
		want: "fail", finding: "validity fail", message: "expired"})
	add(scenario{name: "not-yet-valid-leaf", certs: one(p.leaf(p.inter, h("not-yet-valid-leaf"), testpki.Validity(p.now.AddDate(0, 0, 2), p.now.AddDate(0, 0, 90))), p.inter),
		want: "fail", finding: "validity fail", message: "not valid before"})
	expiredInt := p.b.Issue(p.root, testpki.CN("Expired Intermediate"), testpki.Validity(p.now.AddDate(-3, 0, 0), p.now.AddDate(0, 0, -1)))
	add(scenario{name: "expired-intermediate", certs: one(p.leaf(expiredInt, h("expired-intermediate")), expiredInt),
		want: "fail", finding: "validity fail", message: "expired"})
	add(scenario{name: "expired-copy-after", certs: one(p.leaf(p.inter, h("expired-copy-after")), p.inter, p.expiredInterCopy),
		want: "warn", finding: "chain warn", message: "remove it"})
	add(scenario{name: "expired-copy-before", certs: one(p.leaf(p.inter, h("expired-copy-before")), p.expiredInterCopy, p.inter),
		want: "fail", finding: "validity fail", message: "remove it"})
	expiredOther := p.b.Issue(p.b.Root(testpki.CN("Old Other Root")), testpki.CN("Old Other Intermediate"),
		testpki.Validity(p.now.AddDate(-3, 0, 0), p.now.AddDate(0, 0, -1)))
	add(scenario{name: "expired-unrelated", certs: one(p.leaf(p.inter, h("expired-unrelated")), p.inter, expiredOther),
		want: "warn", finding: "chain warn", message: "unrelated"})
	shortInt := p.b.Issue(p.root, testpki.CN("Short Intermediate"), testpki.Validity(p.now.AddDate(-1, 0, 0), p.now.AddDate(0, 0, 20)))
	add(scenario{name: "intermediate-expires-first", certs: one(p.leaf(shortInt, h("intermediate-expires-first")), shortInt),
		want: "warn", finding: "validity warn", message: "before the leaf"})

	// Weak crypto. Debian's OpenSSL refuses to load these at its default
	// security level, so the server block lowers it, as a server that
	// serves them must.
	add(scenario{name: "rsa1024-leaf", ciphers: "DEFAULT:@SECLEVEL=0", certs: one(p.leaf(p.inter, h("rsa1024-leaf"), testpki.Key(testpki.RSA1024)), p.inter),
		want: "fail", finding: "crypto fail", message: "RSA 1024-bit"})
	sha1Int := p.b.Issue(p.root, testpki.CN("SHA-1 Intermediate"), testpki.SigAlg(x509.SHA1WithRSA))
	add(scenario{name: "sha1-intermediate", ciphers: "DEFAULT:@SECLEVEL=0", certs: one(p.leaf(sha1Int, h("sha1-intermediate")), sha1Int),
		want: "fail", finding: "crypto fail", message: "SHA1"})

	// Protocols and cipher suites.
	add(scenario{name: "tls13-only", protocols: "TLSv1.3", certs: one(p.leaf(p.inter, h("tls13-only")), p.inter),
		want: "fail", finding: "protocol fail", message: "TLS 1.2", exception: "TLS 1.2 required"})
	add(scenario{name: "tls10-accepted", protocols: "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", ciphers: "DEFAULT:@SECLEVEL=0",
		certs: one(p.leaf(p.inter, h("tls10-accepted")), p.inter), want: "warn", finding: "protocol warn", message: "TLS 1.0"})
	rsaLeaf := func(name string) []served {
		return one(p.leaf(p.inter, h(name), testpki.Key(testpki.RSA2048), testpki.KeyUsage(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment)), p.inter)
	}
	add(scenario{name: "legacy-cbc-sha256", protocols: "TLSv1.2", ciphers: "ECDHE-RSA-AES128-SHA256", certs: rsaLeaf("legacy-cbc-sha256"),
		want: "fail", finding: "protocol fail", message: "cipher"})
	add(scenario{name: "legacy-rsa-kex", protocols: "TLSv1.2", ciphers: "AES128-SHA", certs: rsaLeaf("legacy-rsa-kex"),
		want: "fail", finding: "protocol fail", message: "cipher"})
	add(scenario{name: "cbc-sha1-only", protocols: "TLSv1.2", ciphers: "ECDHE-RSA-AES128-SHA", certs: rsaLeaf("cbc-sha1-only"),
		want: "pass"}) // still among Go's, and every other client's, default suites
	add(scenario{name: "legacy-tls12-and-tls13", protocols: "TLSv1.2 TLSv1.3", ciphers: "AES128-SHA", certs: rsaLeaf("legacy-tls12-and-tls13"),
		want: "warn", finding: "protocol warn", message: "cipher"})
	return s
}
