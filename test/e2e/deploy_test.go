package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/testpki"
)

// site is a server as a user runs it: nginx answering ACME challenges on
// Pebble's HTTP port and serving HTTPS from the files renewd deploys.
type site struct {
	t         *testing.T
	pb        *pebble
	ng        *nginx
	w         *workspace
	httpsPort int
	fullchain string
	key       string
	webroot   string
	domains   []string
}

type siteOpts struct {
	reload  []string // nginx.reload; default: this nginx's -s reload
	timeout string   // nginx.timeout
	deploy  string   // extra lines under deploy:
	listen  bool     // HTTP-01 through renewd's responder behind proxy_pass
	// standalone: renewd answers HTTP-01 itself on Pebble's port, no nginx
	// in the way (for tests that stop nginx).
	standalone bool
	retry      string // renewd.yaml retry:, YAML flow mapping
	// ssl: more directives in the HTTPS server block, next to the pair
	// renewd deploys (a certificate of another key type).
	ssl     []string
	keyType string // the certificate's key_type; default acme.key_type (ec256)
}

func newSite(t *testing.T, o siteOpts, domains ...string) *site {
	t.Helper()
	s := &site{t: t, pb: startPebble(t, pebbleOpts{}), ng: newNginx(t), httpsPort: freePort(t), webroot: t.TempDir(), domains: domains}
	certDir := t.TempDir()
	s.fullchain, s.key = filepath.Join(certDir, "fullchain.pem"), filepath.Join(certDir, "privkey.pem")
	writePlaceholder(t, s.fullchain, s.key)
	challenge := fmt.Sprintf("http01: {webroot: %s}", s.webroot)
	if o.standalone {
		challenge = fmt.Sprintf("http01: {listen: \"127.0.0.1:%d\"}", s.pb.HTTPPort)
	} else if o.listen {
		upstream := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		s.ng.proxyChallenges(s.pb.HTTPPort, upstream)
		challenge = fmt.Sprintf("http01: {listen: %q}", upstream)
	} else if !o.standalone {
		s.ng.webroot(s.pb.HTTPPort, s.webroot)
	}
	s.ng.tls(s.httpsPort, domains, s.fullchain, s.key, o.ssl...)
	s.ng.start(s.httpsPort)

	s.w = newWorkspace(t, acmeSettings{directory: s.pb.DirURL, rootFile: s.pb.RootFile, retry: o.retry})
	if o.reload == nil {
		o.reload = s.ng.argv("-s", "reload")
	}
	if o.timeout == "" {
		o.timeout = "10s"
	}
	s.w.appendGlobal(fmt.Sprintf("nginx:\n  test: %s\n  reload: %s\n  timeout: %s\n  verify: {address: \"127.0.0.1:%d\", timeout: 10s}\n",
		yamlArgv(s.ng.argv("-t")), yamlArgv(o.reload), o.timeout, s.httpsPort))
	keyType := ""
	if o.keyType != "" {
		keyType = "key_type: " + o.keyType + "\n"
	}
	s.w.addCert("site", keyType+fmt.Sprintf("domains: [%s]\nchallenge:\n  type: http-01\n  %s\ndeploy:\n  fullchain: %s\n  key: %s\n  nginx: true\n%s",
		strings.Join(domains, ", "), challenge, s.fullchain, s.key, o.deploy))
	return s
}

// served returns what nginx sends for sni, as sent.
func (s *site) served(sni string) []*x509.Certificate {
	s.t.Helper()
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.httpsPort), &tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // judged below
	if err != nil {
		s.t.Fatalf("TLS handshake with nginx for %s: %v", sni, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates
}

// servedSerial returns the serial nginx serves for sni, after checking
// that the chain it sends is complete on its own (no AIA).
func (s *site) servedSerial(sni string) string {
	s.t.Helper()
	served := s.served(sni)
	roots, err := chain.LoadRoots([]string{s.pb.RootFile})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := chain.Verify(served, chain.Options{Roots: roots}); err != nil {
		s.t.Fatalf("nginx serves an incomplete or invalid chain for %s: %v", sni, err)
	}
	return fmt.Sprintf("%x", served[0].SerialNumber)
}

func (s *site) liveSerial() string {
	s.t.Helper()
	certs, err := chain.ParsePEM(s.w.live("site", "cert.pem"))
	if err != nil {
		s.t.Fatal(err)
	}
	return fmt.Sprintf("%x", certs[0].SerialNumber)
}

// writePlaceholder writes a self-signed certificate, as a fresh server has
// before its first real one (Debian's snakeoil), so nginx can start.
func writePlaceholder(t *testing.T, fullchain, key string) {
	t.Helper()
	if err := testpki.New(t, time.Now()).PlaceholderFiles(fullchain, key); err != nil {
		t.Fatal(err)
	}
}

// TestDeployToNginx: issue through nginx's webroot, install the files,
// test and reload nginx once, prove the new complete chain is served (also
// with openssl s_client), write a PKCS#12 keystore and run the hooks.
func TestDeployToNginx(t *testing.T) {
	t.Parallel()
	hookOut := filepath.Join(t.TempDir(), "hook.env")
	hook := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nenv | grep ^RENEWD_ | sort > \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p12 := filepath.Join(t.TempDir(), "keystore.p12")
	s := newSite(t, siteOpts{deploy: fmt.Sprintf("  hooks: [[%s, %s]]\n  pkcs12: {path: %s, password_env: RENEWD_E2E_P12}\n", hook, hookOut, p12)},
		"deploy.example.com", "www.deploy.example.com")
	s.w.env = []string{"RENEWD_E2E_P12=changeit"}

	res := s.w.mustRenew("renew", "--now")
	for _, step := range []string{"install", "reload", "verify", "hook", "done"} {
		if !strings.Contains(res.stdout, step) {
			t.Errorf("progress lacks %q:\n%s", step, res.stdout)
		}
	}
	if strings.Count(res.stdout, " reload ") != 1 {
		t.Errorf("want exactly one reload:\n%s", res.stdout)
	}
	want := s.liveSerial()
	for _, d := range s.domains {
		if got := s.servedSerial(d); got != want {
			t.Errorf("nginx serves %s for %s, want the new %s", got, d, want)
		}
	}
	if !bytes.Equal(mustRead(t, s.fullchain), s.w.live("site", "fullchain.pem")) {
		t.Error("the deployed fullchain is not the stored one")
	}
	if fi, _ := os.Stat(s.key); fi.Mode().Perm() != 0o600 {
		t.Errorf("deployed key mode %v, want 0600", fi.Mode().Perm())
	}

	// openssl, the way an operator checks a server.
	out, err := exec.Command("openssl", "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", s.httpsPort),
		"-servername", "deploy.example.com", "-CAfile", s.pb.RootFile, "-verify_return_error", "-verify_hostname", "deploy.example.com").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verify return code: 0 (ok)") {
		t.Errorf("openssl s_client: %v\n%s", err, out)
	}

	env := string(mustRead(t, hookOut))
	for _, kv := range []string{"RENEWD_NAME=site", "RENEWD_DOMAINS=deploy.example.com www.deploy.example.com",
		"RENEWD_FULLCHAIN=" + s.fullchain, "RENEWD_KEY=" + s.key, "RENEWD_SERIAL=" + want} {
		if !strings.Contains(env, kv+"\n") {
			t.Errorf("hook environment lacks %s:\n%s", kv, env)
		}
	}

	key, leaf, cas, err := pkcs12.DecodeChain(mustRead(t, p12), "changeit")
	if err != nil || key == nil || fmt.Sprintf("%x", leaf.SerialNumber) != want || len(cas) != 1 {
		t.Errorf("keystore: err=%v leaf=%v intermediates=%d", err, leaf != nil, len(cas))
	}
	if fi, _ := os.Stat(p12); fi.Mode().Perm() != 0o600 {
		t.Errorf("keystore mode %v, want 0600", fi.Mode().Perm())
	}

	st := s.w.state()["site"]
	if st["deployed_version"] == nil || st["deployed_version"] != st["version"] {
		t.Errorf("deployed_version %v, version %v", st["deployed_version"], st["version"])
	}
	if st["served_chain"] != "complete" || st["served_checked_at"] == nil {
		t.Errorf("served_chain %v at %v, want complete", st["served_chain"], st["served_checked_at"])
	}
}

// TestDeployListenBehindProxyPass: renewd answers HTTP-01 itself behind
// nginx's proxy_pass, then deploys to the same nginx.
func TestDeployListenBehindProxyPass(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOpts{listen: true}, "proxied.example.com")
	s.w.mustRenew("renew", "--now")
	if got, want := s.servedSerial("proxied.example.com"), s.liveSerial(); got != want {
		t.Errorf("served %s, want %s", got, want)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
