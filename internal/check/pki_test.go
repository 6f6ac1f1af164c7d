package check

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// testNow is the judging time of every test.
var testNow = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

// testCert is a certificate with its private key.
type testCert = testpki.Cert

// spec describes a certificate to issue. A spec with names or ips is a
// leaf, else a CA. Zero dates get testpki's window around testNow: leaves
// [-30d, +60d], CAs [-1y, +3y].
type spec struct {
	cn        string
	names     []string
	ips       []net.IP
	notBefore time.Time
	notAfter  time.Time
	aia       []string
	key       string                  // "" ECDSA P-256; "rsa1024", "rsa2048", "p224"
	sigAlg    x509.SignatureAlgorithm // 0: Go's default for the signer
	more      []testpki.Option
}

var keyTypes = map[string]testpki.KeyType{
	"": testpki.ECDSAP256, "p224": testpki.ECDSAP224, "rsa1024": testpki.RSA1024, "rsa2048": testpki.RSA2048,
}

func newKey(t *testing.T, kind string) crypto.Signer {
	t.Helper()
	k, err := testpki.NewKey(keyTypes[kind])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs s with parent (nil = self-signed), through testpki.
func issue(t *testing.T, parent *testCert, s spec) *testCert {
	t.Helper()
	kt, ok := keyTypes[s.key]
	if !ok {
		t.Fatalf("unknown key kind %q", s.key)
	}
	opts := []testpki.Option{testpki.CN(s.cn), testpki.Key(kt), testpki.AIA(s.aia...), testpki.SigAlg(s.sigAlg),
		testpki.Serial(serialFor(s.cn))}
	if len(s.names) > 0 {
		opts = append(opts, testpki.Names(s.names...))
	}
	if len(s.ips) > 0 {
		opts = append(opts, testpki.IPs(s.ips...))
	}
	if !s.notBefore.IsZero() || !s.notAfter.IsZero() {
		opts = append(opts, validity(s))
	}
	opts = append(opts, s.more...)
	b := testpki.New(t, testNow)
	if parent == nil {
		return b.Root(opts...)
	}
	return b.Issue(parent, opts...)
}

// validity fills in the default side of a window given on one side only.
func validity(s spec) testpki.Option {
	leaf := len(s.names) > 0 || len(s.ips) > 0
	nb, na := s.notBefore, s.notAfter
	switch {
	case nb.IsZero() && leaf:
		nb = testNow.AddDate(0, 0, -30)
	case nb.IsZero():
		nb = testNow.AddDate(-1, 0, 0)
	}
	switch {
	case na.IsZero() && leaf:
		na = testNow.AddDate(0, 0, 60)
	case na.IsZero():
		na = testNow.AddDate(3, 0, 0)
	}
	return testpki.Validity(nb, na)
}

// serialFor derives a serial from the common name, so that golden output
// naming a serial is the same whichever tests ran before.
func serialFor(cn string) int64 {
	sum := sha256.Sum256([]byte(cn))
	return int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
}

// testPKI is root -> int -> leaf, plus root -> int1 -> int2 -> leaf2 for
// two-intermediate chains.
type testPKI struct {
	root, int, leaf    *testCert
	int1, int2, leaf2  *testCert
	rootFile, rootName string
}

const (
	leafAIA = "http://ca.test/int.der"
	int2AIA = "http://ca.test/int2.der"
)

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{root: issue(t, nil, spec{cn: "Test Root CA", notBefore: testNow.AddDate(-5, 0, 0), notAfter: testNow.AddDate(20, 0, 0)})}
	p.int = issue(t, p.root, spec{cn: "Test Intermediate"})
	p.leaf = issue(t, p.int, spec{cn: "shop.example.com", names: []string{"shop.example.com", "www.shop.example.com"}, aia: []string{leafAIA}})
	p.int1 = issue(t, p.root, spec{cn: "Test Intermediate 1"})
	p.int2 = issue(t, p.int1, spec{cn: "Test Intermediate 2"})
	p.leaf2 = issue(t, p.int2, spec{cn: "deep.example.com", names: []string{"deep.example.com"}, aia: []string{int2AIA}})
	return p
}

func (p *testPKI) opts() Options {
	return Options{Roots: pool(p.root.Cert), Now: testNow, WarnDays: DefaultWarnDays}
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func certs(tcs ...*testCert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(tcs))
	for i, tc := range tcs {
		out[i] = tc.Cert
	}
	return out
}

func pemCerts(tcs ...*testCert) []byte { return testpki.PEM(tcs...) }

func pemKey(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	return (&testpki.Cert{Key: k}).KeyPEM()
}
