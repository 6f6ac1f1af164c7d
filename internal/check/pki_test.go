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
	key       testpki.KeyType         // zero: ECDSA P-256
	sigAlg    x509.SignatureAlgorithm // 0: Go's default for the signer
	more      []testpki.Option
}

// newKey makes a key that belongs to no certificate.
func newKey(t *testing.T, kt testpki.KeyType) crypto.Signer {
	t.Helper()
	k, err := testpki.NewKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs s with parent (nil = self-signed), through testpki, with a
// serial derived from the common name.
func issue(t *testing.T, parent *testpki.Cert, s spec) *testpki.Cert {
	t.Helper()
	opts := append([]testpki.Option{testpki.CN(s.cn), testpki.Names(s.names...), testpki.IPs(s.ips...),
		testpki.NotBefore(s.notBefore), testpki.NotAfter(s.notAfter), testpki.AIA(s.aia...),
		testpki.Key(s.key), testpki.SigAlg(s.sigAlg), testpki.Serial(serialFor(s.cn))}, s.more...)
	b := testpki.New(t, testNow)
	if parent == nil {
		return b.Root(opts...)
	}
	return b.Issue(parent, opts...)
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
	root, int, leaf    *testpki.Cert
	int1, int2, leaf2  *testpki.Cert
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
	return Options{Roots: testpki.Pool(p.root), Now: testNow, WarnDays: DefaultWarnDays}
}
