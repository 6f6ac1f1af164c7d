package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// TestDeployBesideOtherKeyType: the server block keeps a certificate of
// the other key type next to the pair renewd deploys (two ssl_certificate
// lines: an RSA one for old clients beside renewd's ECDSA one, or an
// ECDSA one beside renewd's RSA one), and nginx picks one by what the
// client offers. renewd's check after the reload must ask for the kind of
// certificate it deployed: a handshake that gets the other one would see
// "nginx serves serial <the other one>" and roll back every deploy.
// Each case is one that a client offering everything gets the other
// certificate in (Go's default client: TLS 1.3 offers RSA-PSS first,
// TLS 1.2 offers ECDHE-ECDSA suites first; with ssl_prefer_server_ciphers
// OpenSSL prefers ECDSA). Afterwards renewd check judges both
// certificates, and a client offering only one kind gets that kind in
// every TLS version the block allows.
func TestDeployBesideOtherKeyType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc      string // no commas: the test's paths go into YAML flow lists
		keyType   string // renewd's key_type
		other     string // the key of the certificate kept beside it: "RSA" or "ECDSA"
		protocols []string
		ssl       string // more directives
	}{
		{desc: "ECDSA beside RSA in TLS 1.2 and 1.3", keyType: "ec256", other: "RSA", protocols: []string{"TLSv1.2", "TLSv1.3"}},
		{desc: "RSA beside ECDSA in TLS 1.2", keyType: "rsa2048", other: "ECDSA", protocols: []string{"TLSv1.2"}},
		{desc: "RSA beside ECDSA with the server preferring ECDSA", keyType: "rsa2048", other: "ECDSA", protocols: []string{"TLSv1.2", "TLSv1.3"}, ssl: "ssl_prefer_server_ciphers on;"},
	}
	for i, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			domain := fmt.Sprintf("dual%d.nginx.example.com", i)
			dir := t.TempDir()
			otherFull, otherKey := filepath.Join(dir, "other-fullchain.pem"), filepath.Join(dir, "other-privkey.pem")
			otherSerial := writeSelfSigned(t, otherFull, otherKey, tt.other, domain)
			s := newSite(t, siteOpts{keyType: tt.keyType, ssl: []string{
				fmt.Sprintf("ssl_certificate %s;", otherFull), fmt.Sprintf("ssl_certificate_key %s;", otherKey),
				fmt.Sprintf("ssl_protocols %s;", strings.Join(tt.protocols, " ")), tt.ssl,
			}}, domain)

			res := s.w.mustRenew("renew", "--now")
			want := s.liveSerial()
			if verify := fmt.Sprintf("serves serial %s with a complete chain", want); !strings.Contains(res.stdout, verify) {
				t.Errorf("the verify step does not say %q:\n%s", verify, res.stdout)
			}
			if strings.Contains(res.stdout+res.stderr, "rollback") || strings.Contains(res.stdout+res.stderr, "rolled back") {
				t.Errorf("the deploy was rolled back:\n%s\n%s", res.stdout, res.stderr)
			}
			st := s.w.state()["site"]
			if st["deployed_version"] == nil || st["deployed_version"] != st["version"] || st["served_chain"] != "complete" {
				t.Errorf("record: deployed_version %v, version %v, served_chain %v", st["deployed_version"], st["version"], st["served_chain"])
			}

			// renewd check asks for each kind too: it judges both (the
			// self-signed one fails, which is not renewd's to fix) and
			// finds the deployed one among them.
			chk := s.w.renewd("check", "site")
			for _, want := range []string{"ECDSA P-256 certificate:", "RSA 2048-bit certificate:", "the server sends the expected certificate (serial " + want + ")"} {
				if !strings.Contains(chk.stdout, want) {
					t.Errorf("renewd check site does not say %q:\n%s", want, chk)
				}
			}

			serials := map[string]string{tt.other: otherSerial}
			if tt.other == "RSA" {
				serials["ECDSA"] = want
			} else {
				serials["RSA"] = want
			}
			for _, p := range tt.protocols {
				for _, kind := range []string{"ECDSA", "RSA"} {
					args := opensslOnly(p, kind)
					if got := opensslServed(t, s, domain, args...); got != serials[kind] {
						t.Errorf("openssl s_client %s: nginx serves %s, want %s (the %s certificate)", strings.Join(args, " "), got, serials[kind], kind)
					}
				}
			}
		})
	}
}

// opensslOnly returns s_client flags for a client that speaks only the
// TLS version protocol (nginx's name) and accepts only certificates with
// a key of kind: signature algorithms, and in TLS 1.2 cipher suites.
func opensslOnly(protocol, kind string) []string {
	sigalgs := map[string]string{"ECDSA": "ECDSA+SHA256", "RSA": "rsa_pss_rsae_sha256:RSA+SHA256"}[kind]
	if protocol == "TLSv1.3" {
		return []string{"-tls1_3", "-sigalgs", sigalgs}
	}
	return []string{"-tls1_2", "-sigalgs", sigalgs, "-cipher", "ECDHE+a" + kind}
}

// writeSelfSigned writes a self-signed certificate for name with a key of
// kind ("RSA": 2048 bits, "ECDSA": P-256) and its key, the certificate a
// server keeps beside renewd's, and returns its serial in hex. It is never
// judged here, only told apart by its serial.
func writeSelfSigned(t *testing.T, fullchain, keyFile, kind, name string) string {
	t.Helper()
	kt := testpki.ECDSAP256
	if kind == "RSA" {
		kt = testpki.RSA2048
	}
	now := time.Now()
	c := testpki.New(t, now).Root(testpki.CN(name), testpki.Names(name), testpki.Key(kt),
		testpki.Validity(now.Add(-time.Hour), now.Add(24*time.Hour)))
	if err := os.WriteFile(fullchain, testpki.PEM(c), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", c.Cert.SerialNumber)
}

// opensslServed returns the serial of the leaf nginx sends for sni to
// openssl s_client run with args.
func opensslServed(t *testing.T, s *site, sni string, args ...string) string {
	t.Helper()
	argv := append([]string{"s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", s.httpsPort), "-servername", sni}, args...)
	cmd := exec.Command("openssl", argv...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	block, _ := pem.Decode(out)
	if block == nil {
		t.Fatalf("openssl %s: no certificate (%v):\n%s", strings.Join(argv, " "), err, out)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("openssl %s: %v", strings.Join(argv, " "), err)
	}
	return fmt.Sprintf("%x", leaf.SerialNumber)
}
