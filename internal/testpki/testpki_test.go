package testpki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

func TestDefaults(t *testing.T) {
	b := New(t, testNow)
	root := b.Root()
	inter := b.Issue(root, CN("Test Intermediate"))
	leaf := b.Issue(inter, CN("shop.example.com"), Names("shop.example.com"))

	tests := []struct {
		desc   string
		c      *Cert
		ca     bool
		ku     x509.KeyUsage
		eku    []x509.ExtKeyUsage
		from   time.Time
		until  time.Time
		issuer *Cert
	}{
		{"root", root, true, x509.KeyUsageCertSign | x509.KeyUsageCRLSign, nil, testNow.AddDate(-1, 0, 0), testNow.AddDate(3, 0, 0), root},
		{"intermediate", inter, true, x509.KeyUsageCertSign | x509.KeyUsageCRLSign, nil, testNow.AddDate(-1, 0, 0), testNow.AddDate(3, 0, 0), root},
		{"leaf", leaf, false, x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, testNow.AddDate(0, 0, -30), testNow.AddDate(0, 0, 60), inter},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			c := tc.c.Cert
			if c.IsCA != tc.ca || !c.BasicConstraintsValid {
				t.Errorf("IsCA = %v (valid %v), want %v", c.IsCA, c.BasicConstraintsValid, tc.ca)
			}
			if c.KeyUsage != tc.ku || !slices.Equal(c.ExtKeyUsage, tc.eku) {
				t.Errorf("usage = %v %v, want %v %v", c.KeyUsage, c.ExtKeyUsage, tc.ku, tc.eku)
			}
			if !c.NotBefore.Equal(tc.from) || !c.NotAfter.Equal(tc.until) {
				t.Errorf("validity = %s..%s, want %s..%s", c.NotBefore, c.NotAfter, tc.from, tc.until)
			}
			if err := c.CheckSignatureFrom(tc.issuer.Cert); err != nil {
				t.Errorf("not signed by its issuer: %v", err)
			}
			if _, ok := tc.c.Key.(*ecdsa.PrivateKey); !ok {
				t.Errorf("key is %T, want ECDSA", tc.c.Key)
			}
		})
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{
		Roots: Pool(root), Intermediates: Pool(inter), CurrentTime: testNow, DNSName: "shop.example.com",
	}); err != nil {
		t.Errorf("the default chain does not verify: %v", err)
	}
}

func TestOptions(t *testing.T) {
	b := New(t, testNow)
	root := b.Root()
	other := []byte{1, 2, 3, 4}
	nb, na := testNow.AddDate(0, 0, -1), testNow.Add(23*time.Hour)
	tests := []struct {
		desc  string
		opts  []Option
		check func(t *testing.T, c *Cert)
	}{
		{"RSA key", []Option{Names("a.test"), Key(RSA2048)}, func(t *testing.T, c *Cert) {
			if k, ok := c.Key.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
				t.Errorf("key %T, want RSA 2048", c.Key)
			}
		}},
		{"key usage only certificate signing", []Option{Names("a.test"), KeyUsage(x509.KeyUsageCertSign)}, func(t *testing.T, c *Cert) {
			if c.Cert.KeyUsage != x509.KeyUsageCertSign {
				t.Errorf("key usage %v", c.Cert.KeyUsage)
			}
		}},
		{"no extended key usage", []Option{Names("a.test"), ExtKeyUsage()}, func(t *testing.T, c *Cert) {
			if len(c.Cert.ExtKeyUsage) != 0 {
				t.Errorf("EKU %v", c.Cert.ExtKeyUsage)
			}
		}},
		{"intermediate without the CA bit", []Option{CN("Not a CA"), CA(false)}, func(t *testing.T, c *Cert) {
			if c.Cert.IsCA {
				t.Error("IsCA")
			}
		}},
		{"authority key identifier override", []Option{Names("a.test"), AuthorityKeyID(other)}, func(t *testing.T, c *Cert) {
			if !bytes.Equal(c.Cert.AuthorityKeyId, other) {
				t.Errorf("AKI %x, want %x", c.Cert.AuthorityKeyId, other)
			}
			if err := c.Cert.CheckSignatureFrom(root.Cert); err != nil {
				t.Errorf("signature: %v", err)
			}
		}},
		{"subject key identifier override", []Option{CN("Int"), SubjectKeyID(other)}, func(t *testing.T, c *Cert) {
			if !bytes.Equal(c.Cert.SubjectKeyId, other) {
				t.Errorf("SKI %x", c.Cert.SubjectKeyId)
			}
		}},
		{"validity", []Option{Names("a.test"), Validity(nb, na)}, func(t *testing.T, c *Cert) {
			if !c.Cert.NotBefore.Equal(nb) || !c.Cert.NotAfter.Equal(na) {
				t.Errorf("validity %s..%s", c.Cert.NotBefore, c.Cert.NotAfter)
			}
		}},
		{"must-staple", []Option{Names("a.test"), MustStaple()}, func(t *testing.T, c *Cert) {
			for _, e := range c.Cert.Extensions {
				var features []int
				if e.Id.Equal(oidTLSFeature) {
					if _, err := asn1.Unmarshal(e.Value, &features); err != nil || !slices.Equal(features, []int{5}) {
						t.Errorf("TLS feature %v, %v", features, err)
					}
					return
				}
			}
			t.Error("no TLS feature extension")
		}},
		{"ECDSA with SHA-384", []Option{Names("a.test"), SigAlg(x509.ECDSAWithSHA384)}, func(t *testing.T, c *Cert) {
			if c.Cert.SignatureAlgorithm != x509.ECDSAWithSHA384 {
				t.Errorf("algorithm %v", c.Cert.SignatureAlgorithm)
			}
		}},
		{"IP address leaf", []Option{IPs(IP("127.0.0.1"))}, func(t *testing.T, c *Cert) {
			if len(c.Cert.IPAddresses) != 1 || c.Cert.IsCA {
				t.Errorf("IPs %v, IsCA %v", c.Cert.IPAddresses, c.Cert.IsCA)
			}
		}},
		{"same key twice", []Option{CN("Renewed Root"), WithKey(root.Key)}, func(t *testing.T, c *Cert) {
			if !c.Cert.PublicKey.(*ecdsa.PublicKey).Equal(root.Key.Public()) {
				t.Error("another key")
			}
		}},
		{"serial", []Option{Names("a.test"), Serial(4097)}, func(t *testing.T, c *Cert) {
			if c.Cert.SerialNumber.Int64() != 4097 {
				t.Errorf("serial %v", c.Cert.SerialNumber)
			}
		}},
		{"leaf start only", []Option{Names("a.test"), NotBefore(nb)}, func(t *testing.T, c *Cert) {
			if !c.Cert.NotBefore.Equal(nb) || !c.Cert.NotAfter.Equal(testNow.AddDate(0, 0, 60)) {
				t.Errorf("validity %s..%s, want the leaf's default end", c.Cert.NotBefore, c.Cert.NotAfter)
			}
		}},
		{"CA end only", []Option{CN("Short Int"), NotAfter(na)}, func(t *testing.T, c *Cert) {
			if !c.Cert.NotBefore.Equal(testNow.AddDate(-1, 0, 0)) || !c.Cert.NotAfter.Equal(na) {
				t.Errorf("validity %s..%s, want the CA's default start", c.Cert.NotBefore, c.Cert.NotAfter)
			}
		}},
		{"zero start and end keep the defaults", []Option{Names("a.test"), NotBefore(time.Time{}), NotAfter(time.Time{})}, func(t *testing.T, c *Cert) {
			if !c.Cert.NotBefore.Equal(testNow.AddDate(0, 0, -30)) || !c.Cert.NotAfter.Equal(testNow.AddDate(0, 0, 60)) {
				t.Errorf("validity %s..%s, want the leaf's defaults", c.Cert.NotBefore, c.Cert.NotAfter)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			tc.check(t, b.Issue(root, tc.opts...))
		})
	}
}

func TestPEMRoundTrip(t *testing.T) {
	b := New(t, testNow)
	root := b.Root()
	leaf := b.Issue(root, Names("a.test"))
	if got := bytes.Count(PEM(leaf, root), []byte("-----BEGIN CERTIFICATE-----")); got != 2 {
		t.Errorf("%d certificates in PEM, want 2", got)
	}
	if !bytes.HasPrefix(leaf.KeyPEM(), []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("key PEM %q", leaf.KeyPEM()[:30])
	}
}

func TestKeyPEMOfABareKey(t *testing.T) {
	k, err := NewKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(KeyPEM(k))
	if b == nil || b.Type != "PRIVATE KEY" {
		t.Fatalf("key PEM %q", KeyPEM(k))
	}
	parsed, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil || !parsed.(*rsa.PrivateKey).Equal(k) {
		t.Errorf("the PEM holds another key (%v)", err)
	}
}

func TestECKeyPEM(t *testing.T) {
	c := New(t, testNow).Root()
	b, _ := pem.Decode(ECKeyPEM(c.Key))
	if b == nil || b.Type != "EC PRIVATE KEY" {
		t.Fatalf("key PEM %q", ECKeyPEM(c.Key))
	}
	parsed, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil || !parsed.Equal(c.Key) {
		t.Errorf("the PEM holds another key (%v)", err)
	}
	if _, err := tls.X509KeyPair(PEM(c), ECKeyPEM(c.Key)); err != nil {
		t.Errorf("the key file does not go with its certificate: %v", err)
	}

	rsaKey, err := NewKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if msg, _ := recover().(string); !strings.Contains(msg, "needs an ECDSA key") {
			t.Errorf("ECKeyPEM of an RSA key panicked with %q, want testpki's refusal", msg)
		}
	}()
	ECKeyPEM(rsaKey)
	t.Error("ECKeyPEM of an RSA key returned")
}

func TestPanicking(t *testing.T) {
	b := NewPanicking(testNow)
	root := b.Root(CN("Main Root"))
	// A Builder made for no test may be used from any goroutine.
	done := make(chan *Cert)
	go func() { done <- b.Issue(root, Names("localhost"), IPs(IP("127.0.0.1"))) }()
	leaf := <-done
	if err := leaf.Cert.CheckSignatureFrom(root.Cert); err != nil || !leaf.Cert.NotAfter.Equal(testNow.AddDate(0, 0, 60)) {
		t.Errorf("leaf %s..%s, signature %v", leaf.Cert.NotBefore, leaf.Cert.NotAfter, err)
	}

	defer func() {
		p := recover()
		if msg, _ := p.(string); !strings.Contains(msg, "testpki: Issue needs a parent") {
			t.Errorf("Issue without a parent panicked with %v, want testpki's failure", p)
		}
	}()
	b.Issue(nil, Names("a.test"))
	t.Error("Issue without a parent returned")
}

func TestLocalServerFiles(t *testing.T) {
	b := New(t, testNow)
	ca := b.LocalCA("Local Test CA")
	if c := ca.Cert; c.Subject.CommonName != "Local Test CA" || c.SerialNumber.Int64() != 1 || c.KeyUsage != x509.KeyUsageCertSign ||
		!c.NotBefore.Equal(testNow.Add(-time.Hour)) || !c.NotAfter.Equal(testNow.AddDate(1, 0, 0)) {
		t.Errorf("CA %q serial %v usage %v, %s..%s", c.Subject.CommonName, c.SerialNumber, c.KeyUsage, c.NotBefore, c.NotAfter)
	}
	dir := filepath.Join(t.TempDir(), "server")
	certFile, keyFile, err := b.LocalServerFiles(ca, dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("the files are no key pair: %v", err)
	}
	leaf := pair.Leaf
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: Pool(ca), DNSName: host, CurrentTime: testNow}); err != nil {
			t.Errorf("not valid for %s: %v", host, err)
		}
	}
	if leaf.Subject.CommonName != "localhost" || !leaf.NotBefore.Equal(testNow.Add(-time.Hour)) || !leaf.NotAfter.Equal(testNow.Add(7*24*time.Hour)) {
		t.Errorf("leaf %q until %s", leaf.Subject.CommonName, leaf.NotAfter)
	}
	if fi, err := os.Stat(keyFile); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode())
	}
}

func TestPlaceholderFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "live", "site")
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	if err := New(t, testNow).PlaceholderFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("the files are no key pair: %v", err)
	}
	c := pair.Leaf
	if c.Subject.CommonName != "placeholder" || c.SerialNumber.Int64() != 7 ||
		!c.NotBefore.Equal(testNow.Add(-time.Hour)) || !c.NotAfter.Equal(testNow.Add(time.Hour)) {
		t.Errorf("placeholder %q serial %v, %s..%s", c.Subject.CommonName, c.SerialNumber, c.NotBefore, c.NotAfter)
	}
	if len(c.Extensions) != 0 {
		t.Errorf("%d extensions, want none, as a bare self-signed certificate has", len(c.Extensions))
	}
	if err := c.CheckSignatureFrom(c); err == nil {
		t.Error("a certificate without basic constraints passes as its own CA")
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if b, _ := pem.Decode(mustReadFile(t, keyFile)); b == nil || b.Type != "EC PRIVATE KEY" {
		t.Errorf("key file is not an SEC 1 EC key")
	}
	if fi, err := os.Stat(keyFile); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode())
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
