package testpki

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"time"
)

// LocalCA makes the root that signs the HTTPS certificates of servers an
// end-to-end test runs on the loopback address (an ACME server, a proxy in
// front of it): serial 1, certificate signing only, valid from an hour
// before b.Now for a year, so that a benchmark run of hours never outlives
// it. Tests make it per run, as TestMain does with a Builder from
// NewPanicking.
func (b *Builder) LocalCA(cn string) *Cert {
	b.tb.Helper()
	return b.Root(CN(cn), Serial(1), KeyUsage(x509.KeyUsageCertSign), Validity(b.Now.Add(-time.Hour), b.Now.AddDate(1, 0, 0)))
}

// LocalServerFiles issues under ca a server certificate for localhost and
// 127.0.0.1, valid from an hour before b.Now for a week, and writes it to
// dir/tls-cert.pem and its key to dir/tls-key.pem, making dir if needed.
// It returns the files' errors: a server's setup reports them its way.
func (b *Builder) LocalServerFiles(ca *Cert, dir string) (certFile, keyFile string, err error) {
	b.tb.Helper()
	c := b.Issue(ca, CN("localhost"), Names("localhost"), IPs(IP("127.0.0.1")),
		Validity(b.Now.Add(-time.Hour), b.Now.Add(7*24*time.Hour)))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "tls-cert.pem"), filepath.Join(dir, "tls-key.pem")
	if err := os.WriteFile(certFile, PEM(c), 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, c.KeyPEM(), 0o600)
}

// Placeholder makes the self-signed certificate a fresh server has before
// its first real one (Debian's snakeoil), so that nginx can start before
// renewd has installed anything: for "placeholder" with serial 7, no
// extensions at all, valid from an hour before b.Now to an hour after it.
func (b *Builder) Placeholder() *Cert {
	b.tb.Helper()
	return b.Root(CN("placeholder"), Serial(7), Validity(b.Now.Add(-time.Hour), b.Now.Add(time.Hour)),
		NoBasicConstraints(), CA(false), KeyUsage(0))
}

// PlaceholderFiles writes a Placeholder to certFile and its SEC 1 EC key to
// keyFile, making their directories if needed.
func (b *Builder) PlaceholderFiles(certFile, keyFile string) error {
	b.tb.Helper()
	c := b.Placeholder()
	for _, f := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{{certFile, PEM(c), 0o644}, {keyFile, ECKeyPEM(c.Key), 0o600}} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.path, f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}
