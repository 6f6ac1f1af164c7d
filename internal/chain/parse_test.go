package chain

import (
	"bytes"
	"crypto/x509"
	"slices"
	"strings"
	"testing"

	"github.com/renewd/renewd/internal/testpki"
)

func TestParsePEM(t *testing.T) {
	p := newPKI(t, nil)
	leaf, int2 := string(pemOf(p.leaf.Cert)), string(pemOf(p.int2.Cert))
	keyBlock := "-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END EC PRIVATE KEY-----\n"
	lines := strings.SplitAfter(int2, "\n")
	truncated := strings.Join(lines[:3], "")        // BEGIN and two base64 lines, no END
	badBase64 := strings.Replace(int2, "M", "!", 1) // in the first base64 line
	notACert := "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n"

	tests := []struct {
		desc    string
		in      string
		want    []string
		wantErr errCheck
	}{
		{desc: "one certificate", in: leaf, want: []string{"shop.example.com"}},
		{desc: "chain in order", in: leaf + int2, want: []string{"shop.example.com", "Test Intermediate 2"}},
		{desc: "whitespace around and between blocks", in: "\n\n" + leaf + "\n \t\n" + int2 + "\n\n", want: []string{"shop.example.com", "Test Intermediate 2"}},
		{desc: "CRLF line endings", in: strings.ReplaceAll(leaf+int2, "\n", "\r\n"), want: []string{"shop.example.com", "Test Intermediate 2"}},
		{desc: "byte order mark", in: "\xef\xbb\xbf" + leaf, want: []string{"shop.example.com"}},
		{desc: "no final newline", in: strings.TrimSuffix(leaf, "\n"), want: []string{"shop.example.com"}},
		{desc: "empty", in: "", wantErr: wantMessage("no CERTIFICATE block")},
		{desc: "whitespace only", in: " \n\t\n", wantErr: wantMessage("no CERTIFICATE block")},
		{desc: "garbage", in: "this is not a certificate", wantErr: wantMessage("not PEM", "byte 0")},
		{desc: "text before the first block", in: "subject=CN=shop.example.com\n" + leaf, wantErr: wantMessage("not PEM")},
		{desc: "trailing garbage", in: leaf + "garbage\n", wantErr: wantMessage("unexpected non-PEM data", "after PEM block 1")},
		{desc: "text between blocks", in: leaf + "issuer=CN=x\n" + int2, wantErr: wantMessage("after PEM block 1")},
		{desc: "private key after the chain", in: leaf + int2 + keyBlock,
			wantErr: wantMessage("PEM block 3 is a private key", "must not carry a key")},
		{desc: "private key alone", in: keyBlock, wantErr: wantMessage("PEM block 1 is a private key")},
		{desc: "other block type", in: strings.ReplaceAll(leaf, "CERTIFICATE", "TRUSTED CERTIFICATE"),
			wantErr: wantMessage(`PEM block 1 is "TRUSTED CERTIFICATE", want CERTIFICATE`)},
		{desc: "truncated last block", in: leaf + truncated, wantErr: wantMessage("PEM block 2 has no -----END line")},
		{desc: "truncated block followed by another", in: truncated + leaf,
			wantErr: wantMessage("PEM block 1 has no -----END line before the next -----BEGIN")},
		{desc: "bad base64 in a middle block", in: leaf + badBase64 + leaf, wantErr: wantMessage("PEM block 2 is malformed")},
		{desc: "mismatched END line", in: strings.Replace(leaf, "END CERTIFICATE", "END X509 CRL", 1), wantErr: wantMessage("PEM block 1 is malformed")},
		{desc: "block that is not a certificate", in: leaf + notACert, wantErr: wantMessage("PEM block 2: parse certificate")},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := ParsePEM([]byte(tt.in))
			if tt.wantErr != nil {
				if got != nil {
					t.Errorf("ParsePEM returned certificates with the error")
				}
				tt.wantErr(t, err)
				if err != nil && strings.Contains(err.Error(), "c2VjcmV0") {
					t.Errorf("error leaks key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePEM: %v", err)
			}
			if !slices.Equal(cns(got), tt.want) {
				t.Errorf("got %q, want %q", cns(got), tt.want)
			}
		})
	}
}

// TestBundlePEMRoundTrip: what renewd writes to cert.pem, chain.pem and
// fullchain.pem parses back to the same certificates, and the fullchain is
// the cert followed by the chain.
func TestBundlePEMRoundTrip(t *testing.T) {
	p := newPKI(t, nil)
	b, err := Verify(testpki.Certs(p.leaf, p.int2, p.int1, p.root), p.opts())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc string
		pem  []byte
		want []*testCert
	}{
		{desc: "cert.pem", pem: b.CertPEM(), want: []*testCert{p.leaf}},
		{desc: "chain.pem", pem: b.ChainPEM(), want: []*testCert{p.int2, p.int1}},
		{desc: "fullchain.pem", pem: b.FullchainPEM(), want: []*testCert{p.leaf, p.int2, p.int1}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := ParsePEM(tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			want := testpki.Certs(tt.want...)
			if len(got) != len(want) {
				t.Fatalf("got %d certificates, want %d", len(got), len(want))
			}
			for i := range got {
				if !got[i].Equal(want[i]) {
					t.Errorf("certificate %d is %q, want %q", i+1, got[i].Subject, want[i].Subject)
				}
			}
		})
	}
	if !bytes.Equal(b.FullchainPEM(), append(b.CertPEM(), b.ChainPEM()...)) {
		t.Errorf("fullchain.pem is not cert.pem followed by chain.pem")
	}
	if _, err := Verify(mustParse(t, b.FullchainPEM()), p.opts()); err != nil {
		t.Errorf("fullchain.pem does not verify: %v", err)
	}
	if got := (&Bundle{}).FullchainPEM(); len(got) != 0 {
		t.Errorf("empty bundle encodes to %q", got)
	}
}

func mustParse(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	c, err := ParsePEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
