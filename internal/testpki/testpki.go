// Package testpki builds certificate authorities and certificates for tests:
// a root, intermediates and leaves with whatever a test needs to get wrong
// (key types, key usage, extended key usage, the CA bit, signature
// algorithm, AIA URLs, key identifiers, dates, must-staple).
//
// It is for tests only: keys are generated with crypto/rand but nothing
// here is meant to protect anything. A Builder fails the test it was made
// for when a certificate cannot be made (one made by NewPanicking panics),
// so callers never check errors.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"
)

// Builder issues certificates whose default dates are around Now: leaves
// valid from 30 days before to 60 days after it, CAs from a year before to
// three years after it.
type Builder struct {
	tb  testing.TB
	Now time.Time
}

// New returns a Builder that reports failures to tb and dates certificates
// around now.
func New(tb testing.TB, now time.Time) *Builder {
	return &Builder{tb: tb, Now: now}
}

// NewPanicking returns a Builder for code that runs outside a test's own
// goroutine: TestMain making the certificates of the servers every test
// uses, or a fake CA that the code under test calls from its goroutines,
// where failing the test is not allowed. It panics where New's Builder
// fails the test.
func NewPanicking(now time.Time) *Builder {
	return &Builder{tb: panicking{}, Now: now}
}

// panicking stands in for a test where there is none. Its embedded TB is
// nil: a Builder calls only the methods below.
type panicking struct{ testing.TB }

func (panicking) Helper() {}

func (panicking) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

func (panicking) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Root makes a self-signed CA certificate.
func (b *Builder) Root(opts ...Option) *Cert {
	b.tb.Helper()
	return b.issue(nil, append([]Option{CN("Test Root CA")}, opts...))
}

// Issue signs a certificate with parent. A certificate with DNS names or IP
// addresses is a leaf (digital signature, server authentication), anything
// else an intermediate CA (certificate and CRL signing); options change
// either.
func (b *Builder) Issue(parent *Cert, opts ...Option) *Cert {
	b.tb.Helper()
	if parent == nil {
		b.tb.Fatal("testpki: Issue needs a parent; use Root for a self-signed certificate")
	}
	return b.issue(parent, opts)
}

func (b *Builder) issue(parent *Cert, opts []Option) *Cert {
	b.tb.Helper()
	s := &spec{keyType: ECDSAP256}
	for _, o := range opts {
		o(s)
	}
	key := s.key
	if key == nil {
		var err error
		if key, err = s.keyType.generate(); err != nil {
			b.tb.Fatalf("testpki: generate %s key: %v", s.keyType, err)
		}
	}
	tmpl, err := s.template(b.Now, key.Public())
	if err != nil {
		b.tb.Fatalf("testpki: %v", err)
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.Key, parent.Cert
		if s.aki != nil {
			// x509.CreateCertificate takes the AKI from the parent's SKI
			// whenever the parent has one; hide it so the override wins.
			hidden := *parent.Cert
			hidden.SubjectKeyId = nil
			parentCert = &hidden
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		b.tb.Fatalf("testpki: create %q: %v", s.cn, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		b.tb.Fatalf("testpki: parse %q: %v", s.cn, err)
	}
	return &Cert{Cert: c, Key: key}
}

// template turns s into an x509 template dated around now.
func (s *spec) template(now time.Time, pub crypto.PublicKey) (*x509.Certificate, error) {
	leaf := len(s.names) > 0 || len(s.ips) > 0
	nb, na := s.notBefore, s.notAfter
	switch {
	case nb.IsZero() && leaf:
		nb = now.AddDate(0, 0, -30)
	case nb.IsZero():
		nb = now.AddDate(-1, 0, 0)
	}
	switch {
	case na.IsZero() && leaf:
		na = now.AddDate(0, 0, 60)
	case na.IsZero():
		na = now.AddDate(3, 0, 0)
	}
	serial, err := s.serialNumber(nb, na, pub)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             nb,
		NotAfter:              na,
		DNSNames:              s.names,
		IPAddresses:           s.ips,
		IssuingCertificateURL: s.aia,
		SignatureAlgorithm:    s.sigAlg,
		SubjectKeyId:          s.ski,
		AuthorityKeyId:        s.aki,
		BasicConstraintsValid: !s.noBasicConstraints,
		IsCA:                  !leaf,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtraExtensions:       s.extensions,
		PermittedDNSDomains:   s.permittedDNS,
	}
	t.PermittedDNSDomainsCritical = len(s.permittedDNS) > 0
	if leaf {
		t.KeyUsage = x509.KeyUsageDigitalSignature
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if s.isCA != nil {
		t.IsCA = *s.isCA
	}
	if s.keyUsage != nil {
		t.KeyUsage = *s.keyUsage
	}
	if s.extKeyUsage != nil {
		t.ExtKeyUsage = *s.extKeyUsage
	}
	if s.maxPathLen != nil {
		t.MaxPathLen, t.MaxPathLenZero = *s.maxPathLen, *s.maxPathLen == 0
	}
	return t, nil
}

// serialNumber is the serial asked for, else one derived from the
// certificate's contents: unique per key, and positive.
func (s *spec) serialNumber(nb, na time.Time, pub crypto.PublicKey) (*big.Int, error) {
	if s.serial != nil {
		return big.NewInt(*s.serial), nil
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(s.cn))
	h.Write([]byte(nb.String() + na.String()))
	h.Write(spki)
	return new(big.Int).SetBytes(h.Sum(nil)[:15]), nil
}

// Certs returns the certificates of cs, in order.
func Certs(cs ...*Cert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(cs))
	for i, c := range cs {
		out[i] = c.Cert
	}
	return out
}

// PEM encodes the certificates of cs, in order, as a chain file does.
func PEM(cs ...*Cert) []byte {
	var out []byte
	for _, c := range cs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})...)
	}
	return out
}

// KeyPEM encodes c's private key as PKCS#8 PEM.
func (c *Cert) KeyPEM() []byte { return KeyPEM(c.Key) }

// KeyPEM encodes k as PKCS#8 PEM: a key file, also for a key that belongs
// to no certificate.
func KeyPEM(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic("testpki: marshal key: " + err.Error()) // only for keys testpki made
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ECKeyPEM encodes the ECDSA key k as SEC 1 "EC PRIVATE KEY" PEM, the way
// lego and "openssl ecparam -genkey" write EC keys, for tests that hand
// over a key file as those tools leave it. It panics for other keys.
func ECKeyPEM(k crypto.Signer) []byte {
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		panic(fmt.Sprintf("testpki: ECKeyPEM needs an ECDSA key, not %T", k))
	}
	der, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		panic("testpki: marshal EC key: " + err.Error()) // only for curves Go cannot encode
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// Pool returns a pool holding the certificates of cs, to trust as roots.
func Pool(cs ...*Cert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c.Cert)
	}
	return p
}

// IP parses an IP address for IPs, failing loudly on a typo.
func IP(s string) net.IP {
	ip := net.ParseIP(s)
	if ip == nil {
		panic("testpki: bad IP address " + s)
	}
	return ip
}
