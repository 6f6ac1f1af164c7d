package takeover

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// oldCA stands for the CA a server's current certificates came from
// before renewd (another tool's CA): a root, an intermediate and a second
// intermediate under it. Its root file goes into trust.extra_roots.
type oldCA struct {
	root, inter, inter2 *testpki.Cert
	rootFile            string
}

// pair is an issued leaf in the PEM forms the tools keep.
type pair struct {
	cert                      *x509.Certificate
	certPEM, chainPEM, keyPEM []byte
	fullchain, wrongOrder     []byte
}

func newOldCA(t *testing.T) *oldCA {
	t.Helper()
	b := testpki.New(t, time.Now())
	ca := func(serial int64, cn string) []testpki.Option {
		return []testpki.Option{testpki.CN(cn), testpki.Serial(serial), testpki.KeyUsage(x509.KeyUsageCertSign),
			testpki.Validity(time.Now().Add(-24*time.Hour), time.Now().AddDate(2, 0, 0))}
	}
	o := &oldCA{root: b.Root(ca(1, "Old CA Root")...), rootFile: filepath.Join(t.TempDir(), "old-root.pem")}
	o.inter = b.Issue(o.root, ca(2, "Old CA Intermediate")...)
	o.inter2 = b.Issue(o.inter, ca(3, "Old CA Intermediate 2")...)
	writeFile(t, o.rootFile, testpki.PEM(o.root), 0o644)
	return o
}

// issue makes a leaf for names under the intermediate, or under the
// second one when deep: then the chain has two intermediates, and
// wrongOrder sends them the wrong way round (nginx loads it all the same).
func (o *oldCA) issue(t *testing.T, deep bool, names ...string) pair {
	t.Helper()
	chain := []*testpki.Cert{o.inter}
	if deep {
		chain = []*testpki.Cert{o.inter2, o.inter}
	}
	c := testpki.New(t, time.Now()).Issue(chain[0], testpki.Names(names...),
		testpki.Validity(time.Now().Add(-24*time.Hour), time.Now().AddDate(0, 0, 80)))
	p := pair{cert: c.Cert, certPEM: testpki.PEM(c), chainPEM: testpki.PEM(chain...), keyPEM: c.KeyPEM(),
		fullchain: testpki.PEM(append([]*testpki.Cert{c}, chain...)...)}
	if deep {
		p.wrongOrder = testpki.PEM(c, o.inter, o.inter2)
	}
	return p
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
