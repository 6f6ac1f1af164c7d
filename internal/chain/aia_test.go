package chain

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"
)

func TestHTTPFetcher(t *testing.T) {
	p := newPKI(t, nil)
	fixturePEM, err := os.ReadFile("testdata/openssl-certs.pem")
	if err != nil {
		t.Fatal(err)
	}
	fixtureP7C, err := os.ReadFile("testdata/openssl-certs.p7c")
	if err != nil {
		t.Fatal(err)
	}
	fixtureP7B, err := os.ReadFile("testdata/openssl-certs.p7b")
	if err != nil {
		t.Fatal(err)
	}
	both := []string{"Test Intermediate 2", "Test Intermediate 1"}
	openssl := []string{"OpenSSL Fixture A", "OpenSSL Fixture B"}

	tests := []struct {
		desc    string
		route   aiaRoute
		path    string // default /issuer
		fetcher HTTPFetcher
		want    []string
		wantErr errCheck
	}{
		{desc: "DER certificate", route: aiaRoute{body: p.int2.Cert.Raw}, want: both[:1]},
		{desc: "PEM certificates", route: aiaRoute{body: pemOf(p.int2.Cert, p.int1.Cert)}, want: both},
		{desc: "PEM with CRLF and leading whitespace", route: aiaRoute{body: append([]byte("\r\n"), bytes.ReplaceAll(pemOf(p.int2.Cert), []byte("\n"), []byte("\r\n"))...)}, want: both[:1]},
		{desc: "PKCS#7 DER", route: aiaRoute{body: pkcs7Of(t, p.int2.Cert, p.int1.Cert)}, want: both},
		{desc: "PKCS#7 PEM", route: aiaRoute{body: pkcs7PEMOf(t, p.int2.Cert)}, want: both[:1]},
		{desc: "OpenSSL .p7c", route: aiaRoute{body: fixtureP7C}, want: openssl},
		{desc: "OpenSSL .p7b (PEM PKCS7)", route: aiaRoute{body: fixtureP7B}, want: openssl},
		{desc: "OpenSSL PEM", route: aiaRoute{body: fixturePEM}, want: openssl},
		{desc: "404", path: "/nothing", wantErr: wantMessage("HTTP 404 Not Found")},
		{desc: "body over the limit with Content-Length", route: aiaRoute{body: make([]byte, 150)}, fetcher: HTTPFetcher{MaxBytes: 100},
			wantErr: wantMessage("response is 150 bytes, more than the 100 allowed")},
		{desc: "chunked body over the default limit", route: aiaRoute{body: make([]byte, 1<<20+1)},
			wantErr: wantMessage("more than the 1048576 bytes allowed")},
		{desc: "body at the limit", route: aiaRoute{body: p.int2.Cert.Raw}, fetcher: HTTPFetcher{MaxBytes: int64(len(p.int2.Cert.Raw))}, want: both[:1]},
		{desc: "empty body", route: aiaRoute{}, wantErr: wantMessage("empty response")},
		{desc: "garbage", route: aiaRoute{body: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}, wantErr: wantMessage("neither PEM, a DER certificate", "nor PKCS#7")},
		{desc: "PEM private key", route: aiaRoute{body: []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")},
			wantErr: wantMessage("PEM block 1 is a private key")},
		{desc: "BER indefinite-length PKCS#7", route: aiaRoute{body: []byte{0x30, 0x80, 0x06, 0x09}}, wantErr: wantMessage("indefinite-length")},
		{desc: "PKCS#7 of another content type", route: aiaRoute{body: otherContentInfo(t)}, wantErr: wantMessage("is not SignedData")},
		{desc: "PKCS#7 without certificates", route: aiaRoute{body: pkcs7Of(t)}, wantErr: wantMessage("holds no certificates")},
		{desc: "timeout", route: aiaRoute{hang: true}, fetcher: HTTPFetcher{Timeout: 50 * time.Millisecond},
			wantErr: func(t *testing.T, err error) {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error = %v, want a deadline error", err)
				}
			}},
		{desc: "custom client", route: aiaRoute{body: p.int2.Cert.Raw}, fetcher: HTTPFetcher{Client: &http.Client{}}, want: both[:1]},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := newAIAServer(t)
			s.set("/issuer", tt.route)
			path := tt.path
			if path == "" {
				path = "/issuer"
			}
			got, err := tt.fetcher.Fetch(t.Context(), s.url(path))
			if tt.wantErr != nil {
				if got != nil {
					t.Errorf("Fetch returned certificates with the error")
				}
				tt.wantErr(t, err)
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if !slices.Equal(cns(got), tt.want) {
				t.Errorf("got %q, want %q", cns(got), tt.want)
			}
		})
	}
}

func TestHTTPFetcherRefusesOtherSchemes(t *testing.T) {
	for _, u := range []string{"ldap://ldap.example.com/cn=CA?cACertificate", "file:///etc/passwd", "ftp://x/y", "::bad"} {
		t.Run(u, func(t *testing.T) {
			if _, err := (HTTPFetcher{}).Fetch(t.Context(), u); err == nil {
				t.Errorf("Fetch(%q) succeeded", u)
			}
		})
	}
}

// TestPKCS7MatchesOpenSSL: the parser reads OpenSSL's encoding, not only our own.
func TestPKCS7MatchesOpenSSL(t *testing.T) {
	pemData, err := os.ReadFile("testdata/openssl-certs.pem")
	if err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile("testdata/openssl-certs.p7c")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParsePEM(pemData)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parsePKCS7(der)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, (*x509.Certificate).Equal) {
		t.Errorf("PKCS#7 certificates differ from the PEM ones")
	}
	if _, err := parsePKCS7(append(der, 0)); err == nil {
		t.Errorf("trailing data accepted")
	}
}

// otherContentInfo is a ContentInfo of type id-data.
func otherContentInfo(t *testing.T) []byte {
	der := pkcs7Of(t, newRoot(t, "x").Cert)
	// The OID id-signedData ends in 7.2; make it 7.1 (id-data).
	i := bytes.Index(der, []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02})
	der[i+8] = 0x01
	return der
}
