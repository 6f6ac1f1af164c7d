package check

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/golden"
	"github.com/renewd/renewd/internal/testpki"
)

// tlsServer serves chain (as given: the test decides order and content)
// with key on 127.0.0.1 for TLS versions minV..maxV and returns its address.
func tlsServer(t *testing.T, chain []*x509.Certificate, key crypto.Signer, minV, maxV uint16) string {
	t.Helper()
	return tlsServerConfig(t, &tls.Config{
		Certificates: []tls.Certificate{tlsCert(chain, key)},
		MinVersion:   minV,
		MaxVersion:   maxV,
	})
}

// tlsCert is chain (sent as given) with key, for a tls.Config.
func tlsCert(chain []*x509.Certificate, key crypto.Signer) tls.Certificate {
	var ders [][]byte
	for _, c := range chain {
		ders = append(ders, c.Raw)
	}
	return tls.Certificate{Certificate: ders, PrivateKey: key}
}

// tlsServerConfig serves cfg on 127.0.0.1 until the test ends and returns
// its address.
func tlsServerConfig(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_ = c.(*tls.Conn).Handshake()
		_ = c.Close()
	})
	return ln.Addr().String()
}

// serve runs handle for every connection ln accepts until the test ends,
// and waits for the handlers before returning from cleanup.
func serve(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { handle(c) })
		}
	})
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// closingServer accepts connections and closes them at once.
func closingServer(t *testing.T) string {
	ln := listen(t)
	serve(t, ln, func(c net.Conn) { _ = c.Close() })
	return ln.Addr().String()
}

// silentServer accepts connections and never answers until the test ends.
func silentServer(t *testing.T) string {
	ln := listen(t)
	done := make(chan struct{})
	serve(t, ln, func(c net.Conn) {
		<-done
		_ = c.Close()
	})
	t.Cleanup(func() { close(done) }) // runs before serve's cleanup waits
	return ln.Addr().String()
}

// httpServer is a plain HTTP server: no TLS.
func httpServer(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	ln := listen(t)
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// protocolString shows Protocols compactly, TLS 1.0 first: T accepted,
// F refused, - not probed.
func protocolString(p *Protocols) string {
	if p == nil {
		return "nil"
	}
	var b []byte
	for _, v := range []*bool{p.TLS10, p.TLS11, p.TLS12, p.TLS13} {
		switch {
		case v == nil:
			b = append(b, '-')
		case *v:
			b = append(b, 'T')
		default:
			b = append(b, 'F')
		}
	}
	return string(b)
}

const (
	v10, v11, v12, v13 = tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13
)

// serverCase is one fault served on purpose.
type serverCase struct {
	desc      string
	golden    string
	addr      string
	sni       string
	opts      func(*ServerOptions)
	want      []string
	protocols string
}

func serverCases(t *testing.T, p *testPKI) []serverCase {
	wild := issue(t, p.int, spec{cn: "*.example.com", names: []string{"*.example.com"}})
	expiredLeaf := issue(t, p.int, spec{cn: "old.example.com", names: []string{"old.example.com"},
		notBefore: testNow.AddDate(0, 0, -100), notAfter: testNow.AddDate(0, 0, -10)})
	expiredInt := issue(t, p.root, spec{cn: "Expired Intermediate", notBefore: testNow.AddDate(-3, 0, 0), notAfter: testNow.AddDate(0, 0, -1)})
	leafOfExpired := issue(t, expiredInt, spec{cn: "e.example.com", names: []string{"e.example.com"}})
	shortInt := issue(t, p.root, spec{cn: "Short Intermediate", notAfter: testNow.AddDate(0, 0, 20)})
	leafOfShort := issue(t, shortInt, spec{cn: "s.example.com", names: []string{"s.example.com"}})
	noAIA := issue(t, p.int, spec{cn: "noaia.example.com", names: []string{"noaia.example.com"}})
	self := issue(t, nil, spec{cn: "self.example.com", names: []string{"self.example.com"}})
	sha1Int := issue(t, p.root, spec{cn: "SHA-1 Intermediate", sigAlg: x509.ECDSAWithSHA1})
	leafOfSHA1 := issue(t, sha1Int, spec{cn: "sha1.example.com", names: []string{"sha1.example.com"}})
	rsa1024 := issue(t, p.int, spec{cn: "weak.example.com", names: []string{"weak.example.com"}, key: testpki.RSA1024})

	srv := func(leaf *testpki.Cert, rest ...*testpki.Cert) string {
		return tlsServer(t, testpki.Certs(append([]*testpki.Cert{leaf}, rest...)...), leaf.Key, 0, 0)
	}
	good := with("pass names", "pass protocol")
	served := func(extra ...string) []string {
		return with(append([]string{"pass names", "pass protocol"}, extra...)...)
	}
	noNames := func(extra ...string) []string { return with(append([]string{"pass protocol"}, extra...)...) }
	return []serverCase{
		{desc: "good", golden: "good", addr: srv(p.leaf, p.int), sni: "shop.example.com", want: good, protocols: "FFTT"},
		{desc: "missing intermediate, leaf with AIA", golden: "missing-intermediate-aia", addr: srv(p.leaf), sni: "shop.example.com",
			want: served("fail chain"), protocols: "FFTT"},
		{desc: "missing intermediate, leaf without AIA", golden: "missing-intermediate-no-aia", addr: srv(noAIA), sni: "noaia.example.com",
			want: served("fail chain"), protocols: "FFTT"},
		{desc: "wrong order", golden: "wrong-order", addr: srv(p.leaf2, p.int1, p.int2), sni: "deep.example.com",
			want: served("warn chain"), protocols: "FFTT"},
		{desc: "root sent", golden: "root-sent", addr: srv(p.leaf, p.int, p.root), sni: "shop.example.com",
			want: served("warn chain"), protocols: "FFTT"},
		{desc: "expired leaf", golden: "expired-leaf", addr: srv(expiredLeaf, p.int), sni: "old.example.com",
			want: served("fail validity"), protocols: "FFTT"},
		{desc: "expired intermediate", golden: "expired-intermediate", addr: srv(leafOfExpired, expiredInt), sni: "e.example.com",
			want: served("fail validity", "pass validity"), protocols: "FFTT"},
		{desc: "intermediate expires before the leaf", golden: "intermediate-expires-first", addr: srv(leafOfShort, shortInt), sni: "s.example.com",
			want: served("warn validity", "pass validity"), protocols: "FFTT"},
		{desc: "name mismatch", golden: "name-mismatch", addr: srv(p.leaf, p.int), sni: "shop.example.org",
			want: noNames("fail names"), protocols: "FFTT"},
		{desc: "wildcard match", golden: "wildcard-match", addr: srv(wild, p.int), sni: "a.example.com", want: good, protocols: "FFTT"},
		{desc: "wildcard non-match", golden: "wildcard-non-match", addr: srv(wild, p.int), sni: "a.b.example.com",
			want: noNames("fail names"), protocols: "FFTT"},
		{desc: "self-signed", golden: "self-signed", addr: srv(self), sni: "self.example.com",
			want: served("fail chain"), protocols: "FFTT"},
		{desc: "SHA-1 intermediate", golden: "sha1-intermediate", addr: srv(leafOfSHA1, sha1Int), sni: "sha1.example.com",
			want: served("fail chain", "fail crypto"), protocols: "FFTT"},
		{desc: "RSA-1024 leaf", golden: "rsa1024-leaf", addr: srv(rsa1024, p.int), sni: "weak.example.com",
			want: served("fail crypto"), protocols: "FFTT"},
		{desc: "TLS 1.3 only", golden: "tls13-only", addr: tlsServer(t, testpki.Certs(p.leaf, p.int), p.leaf.Key, v13, v13), sni: "shop.example.com",
			want: with("pass names", "fail protocol"), protocols: "FFFT"},
		{desc: "TLS 1.0 accepted", golden: "tls10-accepted", addr: tlsServer(t, testpki.Certs(p.leaf, p.int), p.leaf.Key, v10, v13), sni: "shop.example.com",
			want: with("pass names", "warn protocol"), protocols: "TTTT"},
		{desc: "TLS 1.0 only", golden: "tls10-only", addr: tlsServer(t, testpki.Certs(p.leaf, p.int), p.leaf.Key, v10, v10), sni: "shop.example.com",
			want: with("pass names", "fail protocol", "warn protocol"), protocols: "TFFF"},
		{desc: "TLS 1.1 only", golden: "tls11-only", addr: tlsServer(t, testpki.Certs(p.leaf, p.int), p.leaf.Key, v11, v11), sni: "shop.example.com",
			want: with("pass names", "fail protocol", "warn protocol"), protocols: "FTFF"},
		{desc: "accepts and closes", golden: "closes", addr: closingServer(t), sni: "shop.example.com", want: []string{"fail connect"}, protocols: "----"},
		{desc: "plain HTTP", golden: "plain-http", addr: httpServer(t), sni: "shop.example.com", want: []string{"fail connect"}, protocols: "----"},
		{desc: "closed port", golden: "closed-port", addr: closedPort(t), sni: "shop.example.com", want: []string{"fail connect"}, protocols: "----"},
		{desc: "no TLS answer", golden: "silent", addr: silentServer(t), sni: "shop.example.com",
			opts: func(o *ServerOptions) { o.Timeout = 200 * time.Millisecond }, want: []string{"fail connect"}, protocols: "----"},
		{desc: "expected serial", golden: "expected-serial", addr: srv(p.leaf, p.int), sni: "shop.example.com",
			opts: func(o *ServerOptions) { o.ExpectSerial = p.leaf.Cert.SerialNumber.Text(16) },
			want: served("pass serial"), protocols: "FFTT"},
	}
}

func TestServer(t *testing.T) {
	p := newPKI(t)
	for _, tc := range serverCases(t, p) {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			opts := ServerOptions{Options: p.opts(), Timeout: 5 * time.Second}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			r := Server(context.Background(), tc.addr, tc.sni, opts)
			checkReport(t, r, tc.want, nil)
			if got := protocolString(r.Protocols); got != tc.protocols {
				t.Errorf("protocols = %s, want %s (TLS 1.0..1.3)\n%s", got, tc.protocols, messages(r))
			}
			if r.Address != tc.addr || r.SNI != tc.sni || r.Source != Served {
				t.Errorf("address, sni, source = %q, %q, %q", r.Address, r.SNI, r.Source)
			}
			golden.Compare(t, tc.golden, renderText(t, r, tc.addr))
		})
	}
}

func TestServerSerialMismatch(t *testing.T) {
	p := newPKI(t)
	addr := tlsServer(t, testpki.Certs(p.leaf, p.int), p.leaf.Key, 0, 0)
	opts := ServerOptions{Options: p.opts(), ExpectSerial: "01:AB"}
	r := Server(context.Background(), addr, "shop.example.com", opts)
	checkReport(t, r, with("pass names", "pass protocol", "fail serial"),
		[]string{"the server sends serial " + p.leaf.Cert.SerialNumber.Text(16) + ", not the expected 1ab: it still serves another certificate"})
	err := r.Err(false)
	var re *ReportError
	if !errors.As(err, &re) || re.Report != r {
		t.Fatalf("Err = %v, want a *ReportError for the report", err)
	}
	want := "check of " + addr + " (SNI shop.example.com) failed: serial: the server sends serial"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Err = %q, want prefix %q", err, want)
	}
}

func TestServerSkipProtocols(t *testing.T) {
	p := newPKI(t)
	addr := tlsServer(t, testpki.Certs(p.leaf, p.int), p.leaf.Key, 0, 0)
	r := Server(context.Background(), addr, "shop.example.com", ServerOptions{Options: p.opts(), SkipProtocols: true})
	checkReport(t, r, with("pass names"), nil)
	if got := protocolString(r.Protocols); got != "--TT" {
		t.Errorf("protocols = %s, want --TT (only the versions that show certificates probed)", got)
	}
	if r.Err(true) != nil {
		t.Errorf("Err(strict) = %v, want nil", r.Err(true))
	}
}

func TestServerNoSNIJudgesAddressHost(t *testing.T) {
	p := newPKI(t)
	ipLeaf := issue(t, p.int, spec{cn: "ip", ips: []net.IP{net.ParseIP("127.0.0.1")}})
	addr := tlsServer(t, testpki.Certs(ipLeaf, p.int), ipLeaf.Key, 0, 0)
	r := Server(context.Background(), addr, "", ServerOptions{Options: p.opts()})
	checkReport(t, r, with("warn names", "pass names", "pass protocol"),
		[]string{"127.0.0.1 is an IP address: WeChat mini-programs refuse"})
	if r.Target != "127.0.0.1" || r.SNI != "" {
		t.Errorf("target, sni = %q, %q", r.Target, r.SNI)
	}
}

func TestServerContextCanceled(t *testing.T) {
	addr := silentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	r := Server(ctx, addr, "shop.example.com", ServerOptions{Timeout: time.Minute})
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Server took %s with a canceled context", elapsed)
	}
	checkReport(t, r, []string{"fail connect"}, nil)
}

// TestServerEveryCertificate: a server with an ECDSA and an RSA
// certificate sends either, depending on what the client offers; each is
// probed and judged, and a finding names the one it is about.
func TestServerEveryCertificate(t *testing.T) {
	p := newPKI(t)
	rsaLeaf := issue(t, p.int, spec{cn: "shop.example.com", names: []string{"shop.example.com"}, key: testpki.RSA2048})
	tests := []struct {
		desc     string
		ecdsa    []*x509.Certificate
		rsa      []*x509.Certificate
		want     []string
		contains []string
	}{
		{"both complete", testpki.Certs(p.leaf, p.int), testpki.Certs(rsaLeaf, p.int),
			[]string{"pass chain", "pass chain", "pass names", "pass names", "pass usage", "pass usage", "pass validity", "pass validity", "pass crypto", "pass crypto", "pass protocol"},
			[]string{"ECDSA P-256 certificate: complete:", "RSA 2048-bit certificate: complete:"}},
		{"the RSA one leaf-only", testpki.Certs(p.leaf, p.int), testpki.Certs(rsaLeaf),
			[]string{"fail chain", "pass chain", "pass names", "pass names", "pass usage", "pass usage", "pass validity", "pass validity", "pass crypto", "pass crypto", "pass protocol"},
			[]string{`RSA 2048-bit certificate: incomplete: no certificate for issuer "CN=Test Intermediate"`}},
		{"the ECDSA one leaf-only", testpki.Certs(p.leaf), testpki.Certs(rsaLeaf, p.int),
			[]string{"fail chain", "pass chain", "pass names", "pass names", "pass usage", "pass usage", "pass validity", "pass validity", "pass crypto", "pass crypto", "pass protocol"},
			[]string{`ECDSA P-256 certificate: incomplete: no certificate for issuer "CN=Test Intermediate"`}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			addr := tlsServerConfig(t, &tls.Config{Certificates: []tls.Certificate{tlsCert(tc.ecdsa, p.leaf.Key), tlsCert(tc.rsa, rsaLeaf.Key)}})
			r := Server(context.Background(), addr, "shop.example.com", ServerOptions{Options: p.opts()})
			checkReport(t, r, tc.want, tc.contains)
			if len(r.Chains) != 2 || r.Chains[0].Key != "ECDSA P-256" || r.Chains[1].Key != "RSA 2048-bit" {
				t.Errorf("chains = %+v, want the ECDSA and the RSA one", r.Chains)
			}
			for _, c := range r.Chains {
				if !slices.Equal(c.Versions, []string{"TLS 1.2", "TLS 1.3"}) {
					t.Errorf("%s sent in %v, want TLS 1.2 and 1.3", c.Label, c.Versions)
				}
			}
		})
	}
}

// TestServerLegacySuites: a TLS 1.2-only server that agrees only to a
// suite Go's default client does not offer fails, naming the suite.
func TestServerLegacySuites(t *testing.T) {
	p := newPKI(t)
	rsaLeaf := issue(t, p.int, spec{cn: "shop.example.com", names: []string{"shop.example.com"}, key: testpki.RSA2048})
	addr := tlsServerConfig(t, &tls.Config{
		Certificates: []tls.Certificate{tlsCert(testpki.Certs(rsaLeaf, p.int), rsaLeaf.Key)},
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA},
	})
	r := Server(context.Background(), addr, "shop.example.com", ServerOptions{Options: p.opts()})
	checkReport(t, r, with("pass names", "fail protocol"), []string{
		"TLS 1.2 is accepted only with the legacy cipher suite TLS_RSA_WITH_AES_128_CBC_SHA, which Go's default client and gnutls do not offer, and TLS 1.3 is not accepted",
	})
	if got := protocolString(r.Protocols); got != "FFTF" {
		t.Errorf("protocols = %s, want FFTF", got)
	}
}

// TestServerStapledOCSP: a must-staple leaf passes when the server
// staples a response, in TLS 1.2 and in TLS 1.3 (where the response rides
// in the Certificate message), and fails when it does not.
func TestServerStapledOCSP(t *testing.T) {
	p := newPKI(t)
	staple := issue(t, p.int, spec{cn: "shop.example.com", names: []string{"shop.example.com"}, more: []testpki.Option{testpki.MustStaple()}})
	for _, tc := range []struct {
		desc     string
		ocsp     []byte
		version  uint16
		want     []string
		contains string
	}{
		{"stapled, TLS 1.3", []byte{0x30, 0x03, 0x0a, 0x01, 0x00}, v13, with("pass names", "pass ocsp", "fail protocol"), "the server staples one"},
		{"stapled, TLS 1.2", []byte{0x30, 0x03, 0x0a, 0x01, 0x00}, v12, with("pass names", "pass ocsp", "pass protocol"), "the server staples one"},
		{"not stapled", nil, v13, with("pass names", "fail ocsp", "fail protocol"), "the server staples no OCSP response"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := tlsCert(testpki.Certs(staple, p.int), staple.Key)
			c.OCSPStaple = tc.ocsp
			addr := tlsServerConfig(t, &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tc.version, MaxVersion: tc.version})
			r := Server(context.Background(), addr, "shop.example.com", ServerOptions{Options: p.opts()})
			checkReport(t, r, tc.want, []string{tc.contains})
		})
	}
}

// TestServerHelloRetry: the TLS 1.3 probe follows a server that asks for
// another key exchange group (nginx with ssl_ecdh_curve secp384r1).
func TestServerHelloRetry(t *testing.T) {
	p := newPKI(t)
	addr := tlsServerConfig(t, &tls.Config{
		Certificates:     []tls.Certificate{tlsCert(testpki.Certs(p.leaf, p.int), p.leaf.Key)},
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.CurveP384},
	})
	r := Server(context.Background(), addr, "shop.example.com", ServerOptions{Options: p.opts()})
	if got := protocolString(r.Protocols); got != "FFFT" {
		t.Errorf("protocols = %s, want FFFT\n%s", got, messages(r))
	}
	checkReport(t, r, with("pass names", "fail protocol"), nil)
}
