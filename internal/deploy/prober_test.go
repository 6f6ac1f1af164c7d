package deploy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// dualServer is a TLS server holding an ECDSA and an RSA certificate for
// one name, as an nginx server block with two ssl_certificate lines does.
// It sends the first certificate of prefer the client can take (by its
// signature algorithms in TLS 1.3, its cipher suites in TLS 1.2), the way
// OpenSSL picks, and records which it sent to a hello offering which
// versions.
type dualServer struct {
	addr string
	mu   sync.Mutex
	sent []sentCert
}

type sentCert struct {
	serial   *big.Int
	offers13 bool // the hello offered TLS 1.3
}

func startDualServer(t *testing.T, maxVersion uint16, prefer ...*tls.Certificate) *dualServer {
	t.Helper()
	s := &dualServer{}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion: tls.VersionTLS12,
		MaxVersion: maxVersion,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			for _, c := range prefer {
				if hello.SupportsCertificate(c) == nil {
					s.mu.Lock()
					s.sent = append(s.sent, sentCert{serial: c.Leaf.SerialNumber, offers13: slices.Contains(hello.SupportedVersions, tls.VersionTLS13)})
					s.mu.Unlock()
					return c, nil
				}
			}
			return nil, errors.New("no certificate the client can take")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = conn.SetDeadline(time.Now().Add(time.Minute))
				_ = conn.(*tls.Conn).Handshake()
				conn.Close()
			}()
		}
	}()
	return s
}

func (s *dualServer) sentLog() []sentCert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// tlsPair issues a leaf for names with a key of type kt under the test
// intermediate, as a tls.Certificate with the chain.
func (p *testPKI) tlsPair(t *testing.T, serial int64, kt testpki.KeyType, names ...string) *tls.Certificate {
	t.Helper()
	c := p.issue(t, serial, names, testpki.Key(kt))
	return &tls.Certificate{Certificate: [][]byte{c.Cert.Raw, p.inter.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// TestTLSProberAsksForDeployedKey: a server holding an ECDSA and an RSA
// certificate that prefers the one renewd did not deploy still sends the
// deployed one to TLSProber, in TLS 1.3 (the probe offers only that
// kind's signature algorithms) and TLS 1.2 (only that kind's cipher
// suites). Without a certificate of the kind asked for, TLSProber returns
// what any client gets, so the deploy fails saying which serial nginx
// serves.
func TestTLSProberAsksForDeployedKey(t *testing.T) {
	pki := newPKI(t)
	ec := pki.tlsPair(t, 0xec, testpki.ECDSAP256, "a.example.com")
	rs := pki.tlsPair(t, 0x25a, testpki.RSA2048, "a.example.com")
	tests := []struct {
		desc       string
		maxVersion uint16
		prefer     []*tls.Certificate // the server's order
		key        x509.PublicKeyAlgorithm
		want       *tls.Certificate
		// want13: the hello that got it offered TLS 1.3. TLSProber's TLS
		// 1.2 handshake offers TLS 1.2 alone; a default client offers both.
		want13 bool
	}{
		{desc: "ECDSA deployed, RSA preferred, TLS 1.3", maxVersion: tls.VersionTLS13, prefer: []*tls.Certificate{rs, ec}, key: x509.ECDSA, want: ec, want13: true},
		{desc: "ECDSA deployed, RSA preferred, TLS 1.2", maxVersion: tls.VersionTLS12, prefer: []*tls.Certificate{rs, ec}, key: x509.ECDSA, want: ec},
		{desc: "RSA deployed, ECDSA preferred, TLS 1.3", maxVersion: tls.VersionTLS13, prefer: []*tls.Certificate{ec, rs}, key: x509.RSA, want: rs, want13: true},
		{desc: "RSA deployed, ECDSA preferred, TLS 1.2", maxVersion: tls.VersionTLS12, prefer: []*tls.Certificate{ec, rs}, key: x509.RSA, want: rs},
		// The servers above are adversarial: a client asking for no kind in
		// particular gets the certificate renewd did not deploy.
		{desc: "no kind asked for, RSA preferred", maxVersion: tls.VersionTLS13, prefer: []*tls.Certificate{rs, ec}, key: x509.UnknownPublicKeyAlgorithm, want: rs, want13: true},
		{desc: "no kind asked for, ECDSA preferred, TLS 1.2", maxVersion: tls.VersionTLS12, prefer: []*tls.Certificate{ec, rs}, key: x509.UnknownPublicKeyAlgorithm, want: ec, want13: true},
		// nginx does not use the deployed files: the other certificate is
		// returned, for the error to name its serial.
		{desc: "ECDSA deployed, server has only RSA, TLS 1.3", maxVersion: tls.VersionTLS13, prefer: []*tls.Certificate{rs}, key: x509.ECDSA, want: rs, want13: true},
		{desc: "RSA deployed, server has only ECDSA, TLS 1.2", maxVersion: tls.VersionTLS12, prefer: []*tls.Certificate{ec}, key: x509.RSA, want: ec, want13: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			srv := startDualServer(t, tt.maxVersion, tt.prefer...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			got, err := TLSProber{}.Probe(ctx, srv.addr, "a.example.com", tt.key)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if len(got) != 2 || got[0].SerialNumber.Cmp(tt.want.Leaf.SerialNumber) != 0 || !got[1].Equal(pki.inter.Cert) {
				t.Fatalf("Probe returned %s, want leaf %x and the intermediate", serials(got), tt.want.Leaf.SerialNumber)
			}
			sent := srv.sentLog()
			if last := sent[len(sent)-1]; last.offers13 != tt.want13 {
				t.Errorf("the hello that got it offered TLS 1.3: %v, want %v", last.offers13, tt.want13)
			}
		})
	}
}

// TestTLSProberNothingSent: a server that sends no certificate to any
// hello fails the probe with what each handshake got.
func TestTLSProberNothingSent(t *testing.T) {
	srv := startDualServer(t, tls.VersionTLS13)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := TLSProber{}.Probe(ctx, srv.addr, "a.example.com", x509.ECDSA)
	wantErrContains(t, err, "no certificate sent", "TLS 1.3 asking for ECDSA:", "TLS 1.2 asking for ECDSA:", "asking for any:")
}

func serials(certs []*x509.Certificate) string {
	s := "["
	for i, c := range certs {
		if i > 0 {
			s += " "
		}
		s += c.SerialNumber.Text(16)
	}
	return s + "]"
}
