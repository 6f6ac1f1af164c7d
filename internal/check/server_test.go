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
	"strings"
	"sync"
	"testing"
	"time"
)

// tlsServer serves chain (as given: the test decides order and content)
// with key on 127.0.0.1 for TLS versions minV..maxV and returns its address.
func tlsServer(t *testing.T, chain []*x509.Certificate, key crypto.Signer, minV, maxV uint16) string {
	t.Helper()
	var ders [][]byte
	for _, c := range chain {
		ders = append(ders, c.Raw)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: ders, PrivateKey: key}},
		MinVersion:   minV,
		MaxVersion:   maxV,
	}
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
	rsa1024 := issue(t, p.int, spec{cn: "weak.example.com", names: []string{"weak.example.com"}, key: "rsa1024"})

	srv := func(leaf *testCert, rest ...*testCert) string {
		return tlsServer(t, certs(append([]*testCert{leaf}, rest...)...), leaf.key, 0, 0)
	}
	good := []string{"pass chain", "pass names", "pass validity", "pass crypto", "pass protocol"}
	return []serverCase{
		{desc: "good", golden: "good", addr: srv(p.leaf, p.int), sni: "shop.example.com", want: good, protocols: "FFTT"},
		{desc: "missing intermediate, leaf with AIA", golden: "missing-intermediate-aia", addr: srv(p.leaf), sni: "shop.example.com",
			want: []string{"fail chain", "pass names", "pass validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "missing intermediate, leaf without AIA", golden: "missing-intermediate-no-aia", addr: srv(noAIA), sni: "noaia.example.com",
			want: []string{"fail chain", "pass names", "pass validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "wrong order", golden: "wrong-order", addr: srv(p.leaf2, p.int1, p.int2), sni: "deep.example.com",
			want: []string{"fail chain", "pass chain", "pass names", "pass validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "root sent", golden: "root-sent", addr: srv(p.leaf, p.int, p.root), sni: "shop.example.com",
			want: []string{"warn chain", "pass chain", "pass names", "pass validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "expired leaf", golden: "expired-leaf", addr: srv(expiredLeaf, p.int), sni: "old.example.com",
			want: []string{"pass chain", "pass names", "fail validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "expired intermediate", golden: "expired-intermediate", addr: srv(leafOfExpired, expiredInt), sni: "e.example.com",
			want: []string{"pass chain", "pass names", "fail validity", "pass validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "intermediate expires before the leaf", golden: "intermediate-expires-first", addr: srv(leafOfShort, shortInt), sni: "s.example.com",
			want: []string{"pass chain", "pass names", "warn validity", "pass validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "name mismatch", golden: "name-mismatch", addr: srv(p.leaf, p.int), sni: "shop.example.org",
			want: []string{"pass chain", "fail names", "pass validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "wildcard match", golden: "wildcard-match", addr: srv(wild, p.int), sni: "a.example.com", want: good, protocols: "FFTT"},
		{desc: "wildcard non-match", golden: "wildcard-non-match", addr: srv(wild, p.int), sni: "a.b.example.com",
			want: []string{"pass chain", "fail names", "pass validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "self-signed", golden: "self-signed", addr: srv(self), sni: "self.example.com",
			want: []string{"fail chain", "pass names", "pass validity", "pass crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "SHA-1 intermediate", golden: "sha1-intermediate", addr: srv(leafOfSHA1, sha1Int), sni: "sha1.example.com",
			want: []string{"fail chain", "pass names", "pass validity", "fail crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "RSA-1024 leaf", golden: "rsa1024-leaf", addr: srv(rsa1024, p.int), sni: "weak.example.com",
			want: []string{"pass chain", "pass names", "pass validity", "fail crypto", "pass protocol"}, protocols: "FFTT"},
		{desc: "TLS 1.3 only", golden: "tls13-only", addr: tlsServer(t, certs(p.leaf, p.int), p.leaf.key, v13, v13), sni: "shop.example.com",
			want: []string{"pass chain", "pass names", "pass validity", "pass crypto", "fail protocol"}, protocols: "FFFT"},
		{desc: "TLS 1.0 accepted", golden: "tls10-accepted", addr: tlsServer(t, certs(p.leaf, p.int), p.leaf.key, v10, v13), sni: "shop.example.com",
			want: []string{"pass chain", "pass names", "pass validity", "pass crypto", "warn protocol"}, protocols: "TTTT"},
		{desc: "TLS 1.0 only", golden: "tls10-only", addr: tlsServer(t, certs(p.leaf, p.int), p.leaf.key, v10, v10), sni: "shop.example.com",
			want: []string{"pass chain", "pass names", "pass validity", "pass crypto", "fail protocol", "warn protocol"}, protocols: "TFFF"},
		{desc: "TLS 1.1 only", golden: "tls11-only", addr: tlsServer(t, certs(p.leaf, p.int), p.leaf.key, v11, v11), sni: "shop.example.com",
			want: []string{"pass chain", "pass names", "pass validity", "pass crypto", "fail protocol", "warn protocol"}, protocols: "FTFF"},
		{desc: "accepts and closes", golden: "closes", addr: closingServer(t), sni: "shop.example.com", want: []string{"fail connect"}, protocols: "----"},
		{desc: "plain HTTP", golden: "plain-http", addr: httpServer(t), sni: "shop.example.com", want: []string{"fail connect"}, protocols: "----"},
		{desc: "closed port", golden: "closed-port", addr: closedPort(t), sni: "shop.example.com", want: []string{"fail connect"}, protocols: "----"},
		{desc: "no TLS answer", golden: "silent", addr: silentServer(t), sni: "shop.example.com",
			opts: func(o *ServerOptions) { o.Timeout = 200 * time.Millisecond }, want: []string{"fail connect"}, protocols: "----"},
		{desc: "expected serial", golden: "expected-serial", addr: srv(p.leaf, p.int), sni: "shop.example.com",
			opts: func(o *ServerOptions) { o.ExpectSerial = p.leaf.cert.SerialNumber.Text(16) },
			want: append(good, "pass serial"), protocols: "FFTT"},
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
			compareGolden(t, tc.golden, renderText(t, r, tc.addr))
		})
	}
}

func TestServerSerialMismatch(t *testing.T) {
	p := newPKI(t)
	addr := tlsServer(t, certs(p.leaf, p.int), p.leaf.key, 0, 0)
	opts := ServerOptions{Options: p.opts(), ExpectSerial: "01:AB"}
	r := Server(context.Background(), addr, "shop.example.com", opts)
	checkReport(t, r, []string{"pass chain", "pass names", "pass validity", "pass crypto", "pass protocol", "fail serial"},
		[]string{"the server sends serial " + p.leaf.cert.SerialNumber.Text(16) + ", not the expected 1ab: it still serves another certificate"})
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
	addr := tlsServer(t, certs(p.leaf, p.int), p.leaf.key, 0, 0)
	r := Server(context.Background(), addr, "shop.example.com", ServerOptions{Options: p.opts(), SkipProtocols: true})
	checkReport(t, r, allPass, nil)
	if got := protocolString(r.Protocols); got != "---T" {
		t.Errorf("protocols = %s, want ---T (the one version negotiated)", got)
	}
	if r.Err(true) != nil {
		t.Errorf("Err(strict) = %v, want nil", r.Err(true))
	}
}

func TestServerNoSNIJudgesAddressHost(t *testing.T) {
	p := newPKI(t)
	ipLeaf := issue(t, p.int, spec{cn: "ip", ips: []net.IP{net.ParseIP("127.0.0.1")}})
	addr := tlsServer(t, certs(ipLeaf, p.int), ipLeaf.key, 0, 0)
	r := Server(context.Background(), addr, "", ServerOptions{Options: p.opts()})
	checkReport(t, r, []string{"pass chain", "warn names", "pass names", "pass validity", "pass crypto", "pass protocol"},
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
