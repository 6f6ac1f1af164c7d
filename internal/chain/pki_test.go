package chain

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// testNow is the verification time of every test.
var testNow = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

// testCert is a certificate with its private key.
type testCert = testpki.Cert

// certSpec describes a certificate to issue. Zero dates get a window that
// contains testNow.
type certSpec struct {
	cn        string
	names     []string // DNS SANs; a spec with names (or ips) is a leaf
	ips       []net.IP
	eku       []x509.ExtKeyUsage // nil: the default for a leaf or a CA
	notBefore time.Time
	notAfter  time.Time
	aia       []string
	key       crypto.Signer // reuse a key (cross-signing, a known leaf key); nil = new ECDSA P-256
}

// newRoot makes a self-signed root.
func newRoot(t *testing.T, cn string) *testCert {
	t.Helper()
	return issue(t, nil, certSpec{cn: cn})
}

// issue signs spec with parent (nil = self-signed), through testpki.
func issue(t *testing.T, parent *testCert, spec certSpec) *testCert {
	t.Helper()
	nb, na := spec.notBefore, spec.notAfter
	if nb.IsZero() {
		nb = testNow.AddDate(0, -1, 0)
	}
	if na.IsZero() {
		na = testNow.AddDate(1, 0, 0)
	}
	opts := []testpki.Option{testpki.CN(spec.cn), testpki.Validity(nb, na), testpki.AIA(spec.aia...)}
	if len(spec.names) > 0 {
		opts = append(opts, testpki.Names(spec.names...))
	}
	if len(spec.ips) > 0 {
		opts = append(opts, testpki.IPs(spec.ips...))
	}
	if spec.eku != nil {
		opts = append(opts, testpki.ExtKeyUsage(spec.eku...))
	}
	if spec.key != nil {
		opts = append(opts, testpki.WithKey(spec.key))
	}
	b := testpki.New(t, testNow)
	if parent == nil {
		return b.Root(opts...)
	}
	return b.Issue(parent, opts...)
}

// testPKI is root -> int1 -> int2 -> leaf, and root -> int1 -> leaf1 for a
// one-intermediate chain. With an AIA server, each
// certificate's caIssuers URL points at its issuer's path on it (the
// server serves nothing until told to).
type testPKI struct {
	root, int1, int2, leaf *testCert
	leaf1                  *testCert
}

var leafNames = []string{"shop.example.com", "www.shop.example.com"}

func newPKI(t *testing.T, aia *aiaServer) *testPKI {
	t.Helper()
	url := func(name string) []string {
		if aia == nil {
			return nil
		}
		return []string{aia.url(name)}
	}
	p := &testPKI{root: newRoot(t, "Test Root CA")}
	p.int1 = issue(t, p.root, certSpec{cn: "Test Intermediate 1", aia: url("/root.der")})
	p.int2 = issue(t, p.int1, certSpec{cn: "Test Intermediate 2", aia: url("/int1")})
	p.leaf = issue(t, p.int2, certSpec{cn: "shop.example.com", names: leafNames, aia: url("/int2")})
	p.leaf1 = issue(t, p.int1, certSpec{cn: "one.example.com", names: []string{"one.example.com"}, aia: url("/int1")})
	return p
}

func (p *testPKI) opts() Options {
	return Options{Roots: testpki.Pool(p.root), Now: testNow}
}

// cns lists subjects' common names, to compare chains readably.
func cns(cs []*x509.Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Subject.CommonName
	}
	return out
}

func pemOf(cs ...*x509.Certificate) []byte {
	return encodeCerts(cs)
}

// pkcs7Of encodes a certs-only SignedData, as CAs publish in .p7c files.
func pkcs7Of(t *testing.T, cs ...*x509.Certificate) []byte {
	t.Helper()
	var set []byte
	for _, c := range cs {
		set = append(set, c.Raw...)
	}
	emptySet := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true}
	sd, err := asn1.Marshal(struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      struct{ ContentType asn1.ObjectIdentifier }
		Certificates     asn1.RawValue
		SignerInfos      asn1.RawValue
	}{
		Version:          1,
		DigestAlgorithms: emptySet,
		ContentInfo:      struct{ ContentType asn1.ObjectIdentifier }{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: set},
		SignerInfos:      emptySet,
	})
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}{oidSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pkcs7PEMOf(t *testing.T, cs ...*x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: pkcs7Of(t, cs...)})
}

// aiaRoute is what the AIA server answers on one path.
type aiaRoute struct {
	status int // 0 = 200
	body   []byte
	hang   bool // block until the client gives up or the test ends
}

// aiaServer is an httptest.Server serving caIssuers URLs. Paths without a
// route answer 404.
type aiaServer struct {
	srv     *httptest.Server
	release chan struct{}

	mu     sync.Mutex
	routes map[string]aiaRoute
	hits   map[string]int
}

func newAIAServer(t *testing.T) *aiaServer {
	t.Helper()
	s := &aiaServer{release: make(chan struct{}), routes: map[string]aiaRoute{}, hits: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.release) }) // runs first: unblocks hanging handlers
	return s
}

func (s *aiaServer) url(path string) string { return s.srv.URL + path }

func (s *aiaServer) set(path string, r aiaRoute) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[path] = r
}

func (s *aiaServer) hitCount(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *aiaServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	route, ok := s.routes[r.URL.Path]
	s.hits[r.URL.Path]++
	s.mu.Unlock()
	switch {
	case !ok:
		http.NotFound(w, r)
	case route.hang:
		select {
		case <-s.release:
		case <-r.Context().Done():
		}
	default:
		if route.status != 0 {
			w.WriteHeader(route.status)
		}
		_, _ = w.Write(route.body)
	}
}
