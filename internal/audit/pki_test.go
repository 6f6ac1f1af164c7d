package audit

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// testNow is the judging time of every test.
var testNow = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

// pki is a root and an intermediate that issues leaves, and a second
// intermediate under the first for longer chains.
type pki struct {
	root, inter, inter2 *testpki.Cert
	roots               *x509.CertPool
}

// leaf is an issued certificate with its PEM files.
type leaf struct {
	cert                  *x509.Certificate
	certPEM, keyPEM       []byte
	fullchain, wrongOrder []byte
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	b := testpki.New(t, testNow)
	ca := func(serial int64, cn string) []testpki.Option {
		return []testpki.Option{testpki.CN(cn), testpki.Serial(serial), testpki.KeyUsage(x509.KeyUsageCertSign),
			testpki.Validity(testNow.AddDate(-1, 0, 0), testNow.AddDate(5, 0, 0))}
	}
	p := &pki{root: b.Root(ca(1, "audit test root")...)}
	p.inter = b.Issue(p.root, ca(2, "audit test intermediate")...)
	p.inter2 = b.Issue(p.inter, ca(3, "audit test intermediate 2")...)
	p.roots = testpki.Pool(p.root)
	return p
}

func (p *pki) leaf(t *testing.T, serial int64, names ...string) leaf {
	t.Helper()
	return p.issue(t, p.inter, serial, names)
}

// deepLeaf is issued under inter2: its fullchain holds two intermediates,
// and wrongOrder sends them the wrong way round, which nginx loads
// without complaint.
func (p *pki) deepLeaf(t *testing.T, serial int64, names ...string) leaf {
	t.Helper()
	return p.issue(t, p.inter2, serial, names)
}

func (p *pki) issue(t *testing.T, parent *testpki.Cert, serial int64, names []string) leaf {
	t.Helper()
	c := testpki.New(t, testNow).Issue(parent, testpki.Names(names...), testpki.Serial(serial),
		testpki.Validity(testNow.AddDate(0, 0, -10), testNow.AddDate(0, 0, 80)))
	l := leaf{cert: c.Cert, certPEM: testpki.PEM(c), keyPEM: c.KeyPEM(),
		fullchain: testpki.PEM(c, parent), wrongOrder: testpki.PEM(parent, c)}
	if parent == p.inter2 {
		l.fullchain = testpki.PEM(c, p.inter2, p.inter)
		l.wrongOrder = testpki.PEM(c, p.inter, p.inter2)
	}
	return l
}
