package importer

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/testpki"
)

// testNow is the time of every test.
var testNow = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// pki is a root and an intermediate that issues leaves.
type pki struct {
	root, inter *testpki.Cert
	roots       *x509.CertPool
	rootFile    string
}

// leaf is an issued certificate in the PEM forms tools keep.
type leaf struct {
	cert              *x509.Certificate
	certPEM, chainPEM []byte
	fullchain, keyPEM []byte
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	b := testpki.New(t, testNow)
	ca := func(serial int64, cn string) []testpki.Option {
		return []testpki.Option{testpki.CN(cn), testpki.Serial(serial), testpki.KeyUsage(x509.KeyUsageCertSign),
			testpki.Validity(testNow.AddDate(-1, 0, 0), testNow.AddDate(5, 0, 0))}
	}
	p := &pki{root: b.Root(ca(1, "import test root")...), rootFile: filepath.Join(t.TempDir(), "root.pem")}
	p.inter = b.Issue(p.root, ca(2, "import test intermediate")...)
	p.roots = testpki.Pool(p.root)
	writeFile(t, p.rootFile, testpki.PEM(p.root), 0o644)
	return p
}

// leaf issues a leaf for names; aia, when set, is its caIssuers URL.
func (p *pki) leaf(t *testing.T, serial int64, aia string, names ...string) leaf {
	t.Helper()
	opts := []testpki.Option{testpki.Names(names...), testpki.Serial(serial),
		testpki.Validity(testNow.AddDate(0, 0, -10), testNow.AddDate(0, 0, 80))}
	if aia != "" {
		opts = append(opts, testpki.AIA(aia))
	}
	c := testpki.New(t, testNow).Issue(p.inter, opts...)
	return leaf{cert: c.Cert, certPEM: testpki.PEM(c), chainPEM: testpki.PEM(p.inter),
		fullchain: testpki.PEM(c, p.inter), keyPEM: c.KeyPEM()}
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
