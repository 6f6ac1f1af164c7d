package audit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// testNow is the judging time of every test.
var testNow = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

// pki is a root and an intermediate that issues leaves, and a second
// intermediate under the first for longer chains.
type pki struct {
	root, inter, inter2 *x509.Certificate
	interKey, inter2Key *ecdsa.PrivateKey
	roots               *x509.CertPool
}

// leaf is an issued certificate with its PEM files.
type leaf struct {
	cert                  *x509.Certificate
	certPEM, keyPEM       []byte
	fullchain, wrongOrder []byte
}

func genKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func create(t *testing.T, tmpl, parent *x509.Certificate, pub any, key *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	rootKey, interKey, inter2Key := genKey(t), genKey(t), genKey(t)
	ca := func(serial int64, cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: testNow.AddDate(-1, 0, 0), NotAfter: testNow.AddDate(5, 0, 0),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	}
	rt := ca(1, "audit test root")
	root := create(t, rt, rt, &rootKey.PublicKey, rootKey)
	inter := create(t, ca(2, "audit test intermediate"), root, &interKey.PublicKey, rootKey)
	inter2 := create(t, ca(3, "audit test intermediate 2"), inter, &inter2Key.PublicKey, interKey)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &pki{root: root, inter: inter, inter2: inter2, interKey: interKey, inter2Key: inter2Key, roots: pool}
}

func (p *pki) leaf(t *testing.T, serial int64, names ...string) leaf {
	t.Helper()
	return p.issue(t, p.inter, p.interKey, serial, names)
}

// deepLeaf is issued under inter2: its fullchain holds two intermediates,
// and wrongOrder sends them the wrong way round, which nginx loads
// without complaint.
func (p *pki) deepLeaf(t *testing.T, serial int64, names ...string) leaf {
	t.Helper()
	return p.issue(t, p.inter2, p.inter2Key, serial, names)
}

func (p *pki) issue(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, serial int64, names []string) leaf {
	t.Helper()
	k := genKey(t)
	c := create(t, &x509.Certificate{SerialNumber: big.NewInt(serial), DNSNames: names,
		NotBefore: testNow.AddDate(0, 0, -10), NotAfter: testNow.AddDate(0, 0, 80),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		parent, &k.PublicKey, parentKey)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	l := leaf{cert: c, certPEM: pemOf(c), keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}
	l.fullchain = append(append([]byte{}, l.certPEM...), pemOf(parent)...)
	l.wrongOrder = append(append([]byte{}, pemOf(parent)...), l.certPEM...)
	if parent == p.inter2 {
		l.fullchain = append(l.fullchain, pemOf(p.inter)...)
		l.wrongOrder = append(append(append([]byte{}, l.certPEM...), pemOf(p.inter)...), pemOf(p.inter2)...)
	}
	return l
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
