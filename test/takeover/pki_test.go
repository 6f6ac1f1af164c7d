package takeover

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA signs Pebble's HTTPS certificate, generated per run.
type testCA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

func newTestCA(cn string) (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// issueServer writes a certificate for localhost and 127.0.0.1 into dir.
func (ca *testCA) issueServer(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		ca.cert, key.Public(), ca.key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "tls-cert.pem"), filepath.Join(dir, "tls-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// oldCA stands for the CA a server's current certificates came from
// before renewd (another tool's CA): a root, an intermediate and a second
// intermediate under it. Its root file goes into trust.extra_roots.
type oldCA struct {
	root, inter, inter2 *x509.Certificate
	interKey, inter2Key *ecdsa.PrivateKey
	rootFile            string
}

// pair is an issued leaf in the PEM forms the tools keep.
type pair struct {
	cert                      *x509.Certificate
	certPEM, chainPEM, keyPEM []byte
	fullchain, wrongOrder     []byte
}

func genKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, tmpl, parent *x509.Certificate, pub any, key *ecdsa.PrivateKey) *x509.Certificate {
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

func newOldCA(t *testing.T) *oldCA {
	t.Helper()
	rootKey, interKey, inter2Key := genKey(t), genKey(t), genKey(t)
	ca := func(serial int64, cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().AddDate(2, 0, 0),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	}
	rt := ca(1, "Old CA Root")
	root := sign(t, rt, rt, &rootKey.PublicKey, rootKey)
	inter := sign(t, ca(2, "Old CA Intermediate"), root, &interKey.PublicKey, rootKey)
	inter2 := sign(t, ca(3, "Old CA Intermediate 2"), inter, &inter2Key.PublicKey, interKey)
	o := &oldCA{root: root, inter: inter, inter2: inter2, interKey: interKey, inter2Key: inter2Key, rootFile: filepath.Join(t.TempDir(), "old-root.pem")}
	if err := os.WriteFile(o.rootFile, pemOf(root), 0o644); err != nil {
		t.Fatal(err)
	}
	return o
}

// issue makes a leaf for names under the intermediate, or under the
// second one when deep: then the chain has two intermediates, and
// wrongOrder sends them the wrong way round (nginx loads it all the same).
func (o *oldCA) issue(t *testing.T, deep bool, names ...string) pair {
	t.Helper()
	parent, parentKey := o.inter, o.interKey
	if deep {
		parent, parentKey = o.inter2, o.inter2Key
	}
	k := genKey(t)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	c := sign(t, &x509.Certificate{SerialNumber: serial, DNSNames: names,
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().AddDate(0, 0, 80),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, parent, &k.PublicKey, parentKey)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := pair{cert: c, certPEM: pemOf(c), keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}
	p.chainPEM = pemOf(parent)
	if deep {
		p.chainPEM = append(pemOf(o.inter2), pemOf(o.inter)...)
		p.wrongOrder = append(append(append([]byte{}, p.certPEM...), pemOf(o.inter)...), pemOf(o.inter2)...)
	}
	p.fullchain = append(append([]byte{}, p.certPEM...), p.chainPEM...)
	return p
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func writeFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}
