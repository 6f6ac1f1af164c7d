package check

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// testNow is the judging time of every test.
var testNow = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

// testCert is a certificate with its private key.
type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// spec describes a certificate to issue. A spec with names or ips is a
// leaf, else a CA. Zero dates get a window around testNow: leaves
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
}

func (s spec) isLeaf() bool { return len(s.names) > 0 || len(s.ips) > 0 }

func newKey(t *testing.T, kind string) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p224":
		k, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case "rsa1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case "rsa2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs s with parent (nil = self-signed).
func issue(t *testing.T, parent *testCert, s spec) *testCert {
	t.Helper()
	key := newKey(t, s.key)
	tmpl := template(s)
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

// serialFor derives a serial from the common name, so that golden output
// naming a serial is the same whichever tests ran before.
func serialFor(cn string) *big.Int {
	sum := sha256.Sum256([]byte(cn))
	return new(big.Int).SetBytes(sum[:8])
}

func template(s spec) *x509.Certificate {
	nb, na := s.notBefore, s.notAfter
	switch {
	case nb.IsZero() && s.isLeaf():
		nb = testNow.AddDate(0, 0, -30)
	case nb.IsZero():
		nb = testNow.AddDate(-1, 0, 0)
	}
	switch {
	case na.IsZero() && s.isLeaf():
		na = testNow.AddDate(0, 0, 60)
	case na.IsZero():
		na = testNow.AddDate(3, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialFor(s.cn),
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             nb,
		NotAfter:              na,
		IssuingCertificateURL: s.aia,
		BasicConstraintsValid: true,
		SignatureAlgorithm:    s.sigAlg,
	}
	if s.isLeaf() {
		tmpl.DNSNames, tmpl.IPAddresses = s.names, s.ips
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		return tmpl
	}
	tmpl.IsCA = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	return tmpl
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
	return Options{Roots: pool(p.root.cert), Now: testNow, WarnDays: DefaultWarnDays}
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
		out[i] = tc.cert
	}
	return out
}

func pemCerts(tcs ...*testCert) []byte {
	var out []byte
	for _, tc := range tcs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.cert.Raw})...)
	}
	return out
}

func pemKey(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
