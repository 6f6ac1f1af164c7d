package e2e

import (
	"crypto/tls"
	"encoding/json"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// testCA signs the HTTPS certificates of Pebble and the proxy, generated
// per run so nothing depends on files inside the module cache.
type testCA struct{ root *testpki.Cert }

// newTestCA makes the CA in TestMain, before any test runs (or for one
// test's step-ca): its builder panics on failure.
func newTestCA(cn string) *testCA {
	return &testCA{root: testpki.NewPanicking(time.Now()).LocalCA(cn)}
}

// issueServer writes cert.pem and key.pem for localhost/127.0.0.1 into dir.
func (ca *testCA) issueServer(dir string) (certFile, keyFile string, err error) {
	return testpki.NewPanicking(time.Now()).LocalServerFiles(ca.root, dir)
}

func tlsKeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	return tls.X509KeyPair(certPEM, keyPEM)
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
