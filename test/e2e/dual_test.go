package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeployBesideRSACertificate: the server block keeps an RSA
// certificate for old clients next to the ECDSA pair renewd deploys (two
// ssl_certificate lines), and nginx picks one by what the client offers.
// renewd's check after the reload must ask for the ECDSA certificate it
// deployed: a hello that gets the RSA one would see "nginx serves serial
// <the RSA one>" and roll back every deploy. Afterwards an ECDSA-only
// client gets the new certificate and an RSA-only client still gets the
// RSA one, in TLS 1.3 and TLS 1.2.
func TestDeployBesideRSACertificate(t *testing.T) {
	t.Parallel()
	const domain = "dual.nginx.example.com"
	dir := t.TempDir()
	rsaFull, rsaKey := filepath.Join(dir, "rsa-fullchain.pem"), filepath.Join(dir, "rsa-privkey.pem")
	rsaSerial := writeRSAPair(t, rsaFull, rsaKey, domain)
	s := newSite(t, siteOpts{ssl: []string{
		fmt.Sprintf("ssl_certificate %s;", rsaFull), fmt.Sprintf("ssl_certificate_key %s;", rsaKey),
	}}, domain)

	res := s.w.mustRenew("renew", "--now")
	want := s.liveSerial()
	if verify := fmt.Sprintf("serves serial %s with a complete chain", want); !strings.Contains(res.stdout, verify) {
		t.Errorf("the verify step does not say %q:\n%s", verify, res.stdout)
	}
	if strings.Contains(res.stdout+res.stderr, "rollback") {
		t.Errorf("the deploy was rolled back:\n%s\n%s", res.stdout, res.stderr)
	}
	st := s.w.state()["site"]
	if st["deployed_version"] == nil || st["deployed_version"] != st["version"] || st["served_chain"] != "complete" {
		t.Errorf("record: deployed_version %v, version %v, served_chain %v", st["deployed_version"], st["version"], st["served_chain"])
	}

	for _, tt := range []struct {
		version, sigalgs, want string
	}{
		{"-tls1_3", "ECDSA+SHA256", want},
		{"-tls1_3", "rsa_pss_rsae_sha256", rsaSerial},
		{"-tls1_2", "ECDSA+SHA256", want},
		{"-tls1_2", "RSA+SHA256", rsaSerial},
	} {
		if got := opensslServed(t, s, domain, tt.version, "-sigalgs", tt.sigalgs); got != tt.want {
			t.Errorf("openssl s_client %s -sigalgs %s: nginx serves %s, want %s", tt.version, tt.sigalgs, got, tt.want)
		}
	}
}

// writeRSAPair writes a self-signed RSA 2048 certificate for name and its
// key, the certificate a server kept for old clients, and returns its
// serial in hex. It is never judged here, only told apart by its serial.
func writeRSAPair(t *testing.T, fullchain, keyFile, name string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fullchain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", serial)
}

// opensslServed returns the serial of the leaf nginx sends for sni to
// openssl s_client run with args.
func opensslServed(t *testing.T, s *site, sni string, args ...string) string {
	t.Helper()
	argv := append([]string{"s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", s.httpsPort), "-servername", sni}, args...)
	out, err := exec.Command("openssl", argv...).CombinedOutput()
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
