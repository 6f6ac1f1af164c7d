package harness

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// TLSCA signs the HTTPS certificates of Pebble and the proxy. It is made
// afresh for each run, so nothing depends on files in the module cache.
type TLSCA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// NewTLSCA makes a CA named cn, valid from an hour ago for a year
// (testpki's LocalCA). Making it does not fail short of a broken
// crypto/rand, where testpki panics, so the error is always nil; it stays
// for the callers that check it.
func NewTLSCA(cn string) (*TLSCA, error) {
	root := testpki.NewPanicking(time.Now()).LocalCA(cn)
	return &TLSCA{Cert: root.Cert, Key: root.Key, CertPEM: testpki.PEM(root)}, nil
}

// IssueServer writes tls-cert.pem and tls-key.pem (0600) for localhost and
// 127.0.0.1, valid for a week, into dir.
func (ca *TLSCA) IssueServer(dir string) (certFile, keyFile string, err error) {
	return testpki.NewPanicking(time.Now()).LocalServerFiles(ca.cert(), dir)
}

func (ca *TLSCA) cert() *testpki.Cert { return &testpki.Cert{Cert: ca.Cert, Key: ca.Key} }

// Pool is a certificate pool holding the CA alone.
func (ca *TLSCA) Pool() *x509.CertPool { return testpki.Pool(ca.cert()) }

// Client is an HTTPS client that trusts the CA (Pebble's and the proxy's
// endpoints) and gives up after 10 s.
func (ca *TLSCA) Client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
}
