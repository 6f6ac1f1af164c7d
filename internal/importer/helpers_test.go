package importer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
)

// testNow is the time of every test.
var testNow = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// pki is a root and an intermediate that issues leaves.
type pki struct {
	root, inter *x509.Certificate
	interKey    *ecdsa.PrivateKey
	roots       *x509.CertPool
	rootFile    string
}

// leaf is an issued certificate in the PEM forms tools keep.
type leaf struct {
	cert              *x509.Certificate
	certPEM, chainPEM []byte
	fullchain, keyPEM []byte
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
	rootKey, interKey := genKey(t), genKey(t)
	ca := func(serial int64, cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: testNow.AddDate(-1, 0, 0), NotAfter: testNow.AddDate(5, 0, 0),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	}
	rt := ca(1, "import test root")
	root := create(t, rt, rt, &rootKey.PublicKey, rootKey)
	inter := create(t, ca(2, "import test intermediate"), root, &interKey.PublicKey, rootKey)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	p := &pki{root: root, inter: inter, interKey: interKey, roots: pool, rootFile: filepath.Join(t.TempDir(), "root.pem")}
	writeFile(t, p.rootFile, pemOf(root), 0o644)
	return p
}

// leaf issues a leaf for names; aia, when set, is its caIssuers URL.
func (p *pki) leaf(t *testing.T, serial int64, aia string, names ...string) leaf {
	t.Helper()
	k := genKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), DNSNames: names,
		NotBefore: testNow.AddDate(0, 0, -10), NotAfter: testNow.AddDate(0, 0, 80),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if aia != "" {
		tmpl.IssuingCertificateURL = []string{aia}
	}
	c := create(t, tmpl, p.inter, &k.PublicKey, p.interKey)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	l := leaf{cert: c, certPEM: pemOf(c), chainPEM: pemOf(p.inter), keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}
	l.fullchain = append(append([]byte{}, l.certPEM...), l.chainPEM...)
	return l
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

// renewdConfig writes a renewd.yaml trusting p's root, with existing
// certificate files, and loads it.
func renewdConfig(t *testing.T, p *pki, certs map[string]string) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "renewd.yaml"), []byte("storage: "+filepath.Join(dir, "storage")+
		"\nacme: {directory: https://acme.example/dir}\ntrust: {extra_roots: ["+p.rootFile+"]}\n"), 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "domains.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range certs {
		writeFile(t, filepath.Join(dir, "domains.d", name+".yaml"), []byte(body), 0o644)
	}
	cfg, err := config.Load(filepath.Join(dir, "renewd.yaml"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, filepath.Join(dir, "renewd.yaml")
}

// fakeFetcher serves AIA URLs from a map and counts the fetches.
type fakeFetcher struct {
	certs map[string]*x509.Certificate
	n     int
}

func (f *fakeFetcher) Fetch(_ context.Context, url string) ([]*x509.Certificate, error) {
	f.n++
	if c, ok := f.certs[url]; ok {
		return []*x509.Certificate{c}, nil
	}
	return nil, errors.New("404 Not Found")
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func itemNamed(t *testing.T, p *Plan, name string) *Item {
	t.Helper()
	for _, it := range p.Items {
		if it.Name == name {
			return it
		}
	}
	var names []string
	for _, it := range p.Items {
		names = append(names, it.Name)
	}
	t.Fatalf("no item %q in %s", name, strings.Join(names, ", "))
	return nil
}
