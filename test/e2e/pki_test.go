package e2e

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"

	"github.com/renewd/renewd/test/harness"
)

// testCA signs the HTTPS certificates of Pebble and the proxy, generated
// per run so nothing depends on files inside the module cache
// (harness.TLSCA, under the names the tests use).
type testCA struct {
	*harness.TLSCA
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

func newTestCA(cn string) (*testCA, error) {
	ca, err := harness.NewTLSCA(cn)
	if err != nil {
		return nil, err
	}
	return &testCA{TLSCA: ca, cert: ca.Cert, key: ca.Key, certPEM: ca.CertPEM}, nil
}

// issueServer writes cert.pem and key.pem for localhost/127.0.0.1 into dir.
func (ca *testCA) issueServer(dir string) (certFile, keyFile string, err error) {
	return ca.IssueServer(dir)
}

func tlsKeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	return tls.X509KeyPair(certPEM, keyPEM)
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
