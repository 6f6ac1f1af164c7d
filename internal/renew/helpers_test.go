package renew

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/acme"
)

// t0 is "now" in every test unless a test advances its clock.
var t0 = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

// day keeps the policy tables readable.
const day = 24 * time.Hour

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tp(t time.Time) *time.Time { return &t }

// fakeClock is a clock that moves only when told to. Safe for concurrent
// use, since the renewer reads it from several goroutines.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testCA is a tiny PKI: a self-signed ECDSA P-256 root and one intermediate
// it signed. Leaves are issued by the intermediate.
type testCA struct {
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
}

var serials atomic.Int64

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caTemplate(cn string, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.AddDate(-1, 0, 0),
		NotAfter:              now.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

func newCA(t testing.TB, now time.Time) *testCA {
	t.Helper()
	ca := &testCA{rootKey: newKey(t), interKey: newKey(t)}
	rt := caTemplate("renewd Test Root", now)
	ca.root = sign(t, rt, rt, &ca.rootKey.PublicKey, ca.rootKey)
	ca.inter = sign(t, caTemplate("renewd Test Intermediate", now), ca.root, &ca.interKey.PublicKey, ca.rootKey)
	return ca
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.root)
	return p
}

// leaf issues a 90-day server certificate for domains with key, valid from
// notBefore. It carries no AIA URL, so a leaf-only answer cannot be completed.
// It returns an error instead of failing the test because fake issuers call
// it from the renewer's goroutines.
func (ca *testCA) leaf(key *ecdsa.PrivateKey, domains []string, notBefore time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1) + 1000),
		Subject:               pkix.Name{CommonName: domains[0]},
		DNSNames:              domains,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(90 * day),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.inter, &key.PublicKey, ca.interKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// issue is what a CA answers to an order for domains at now: a fresh key
// and a leaf valid from an hour before now, followed by the intermediate
// unless leafOnly (the broken BaoTa-style answer).
func (ca *testCA) issue(domains []string, now time.Time, leafOnly bool) (*acme.Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.leaf(key, domains, now.Add(-time.Hour))
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	certs := []*x509.Certificate{leaf, ca.inter}
	if leafOnly {
		certs = certs[:1]
	}
	return &acme.Issued{Certs: certs, Key: key, KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})}, nil
}
