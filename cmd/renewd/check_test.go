package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/check"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
	"github.com/renewd/renewd/internal/testpki"
)

// checkPKI is a root, an intermediate and two leaves for shop.example.com
// and www.shop.example.com (the live one and another). Dates are around the
// real clock: `renewd check` judges at time.Now().
type checkPKI struct {
	root, inter, leaf, other *x509.Certificate
	interKey, leafKey        crypto.Signer
	otherKey                 crypto.Signer
}

func newCheckPKI(t *testing.T) *checkPKI {
	t.Helper()
	now := time.Now()
	b := testpki.New(t, now)
	validity := testpki.Validity(now.Add(-time.Hour), now.AddDate(3, 0, 0))
	root := b.Root(testpki.CN("Check Test Root"), validity)
	inter := b.Issue(root, testpki.CN("Check Test Intermediate"), validity)
	leaf := func(serial int64) *testpki.Cert {
		return b.Issue(inter, testpki.CN("shop.example.com"), testpki.Names("shop.example.com", "www.shop.example.com"),
			testpki.Serial(serial), testpki.Validity(now.Add(-time.Hour), now.AddDate(0, 0, 60)))
	}
	live, other := leaf(0x1001), leaf(0x2002)
	return &checkPKI{root: root.Cert, inter: inter.Cert, leaf: live.Cert, other: other.Cert,
		interKey: inter.Key, leafKey: live.Key, otherKey: other.Key}
}

func pemOf(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, testpki.PEM(&testpki.Cert{Cert: c})...)
	}
	return out
}

func keyPEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	return (&testpki.Cert{Key: k}).KeyPEM()
}

// serveChain serves chain with key on 127.0.0.1 until the test ends.
func serveChain(t *testing.T, key crypto.Signer, chain ...*x509.Certificate) string {
	t.Helper()
	var ders [][]byte
	for _, c := range chain {
		ders = append(ders, c.Raw)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: ders, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
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
			wg.Go(func() {
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				_ = c.Close()
			})
		}
	})
	return ln.Addr().String()
}

// checkSetup is a renewd configuration whose certificate "shop" is live in
// the store and served, complete, at nginx.verify.address.
type checkSetup struct {
	pki    *checkPKI
	config string
	served string // nginx.verify.address
}

func newCheckSetup(t *testing.T) *checkSetup {
	t.Helper()
	t.Setenv("RENEWD_CONFIG", "")
	p := newCheckPKI(t)
	dir := t.TempDir()
	s := &checkSetup{pki: p, config: filepath.Join(dir, "renewd.yaml"), served: serveChain(t, p.leafKey, p.leaf, p.inter)}
	rootFile := filepath.Join(dir, "root.pem")
	writeFile(t, rootFile, string(pemOf(p.root)))
	writeFile(t, s.config, fmt.Sprintf(`storage: %s
trust:
  extra_roots: [%s]
nginx:
  verify: {address: %q, timeout: 5s}
`, filepath.Join(dir, "storage"), rootFile, s.served))
	writeFile(t, filepath.Join(dir, "domains.d", "shop.yaml"), fmt.Sprintf(`domains: [shop.example.com, www.shop.example.com]
challenge:
  type: http-01
  http01: {webroot: /var/www/acme}
deploy:
  fullchain: %s
  key: %s
  nginx: true
`, filepath.Join(dir, "nginx", "fullchain.pem"), filepath.Join(dir, "nginx", "privkey.pem")))

	st, err := store.Open(filepath.Join(dir, "storage"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.SaveVersion("shop", store.Files{
		Cert: pemOf(p.leaf), Chain: pemOf(p.inter), Fullchain: pemOf(p.leaf, p.inter), Key: keyPEM(t, p.leafKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

type runResult struct {
	code           int
	stdout, stderr string
}

func runRenewd(t *testing.T, args ...string) runResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return runResult{code, out.String(), errb.String()}
}

func (r runResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func TestCheckExitCodes(t *testing.T) {
	s := newCheckSetup(t)
	p := s.pki
	leafOnly := serveChain(t, p.leafKey, p.leaf)
	otherCert := serveChain(t, p.otherKey, p.other, p.inter)
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	writeFile(t, broken, "concurency: 2\n")

	tests := []struct {
		desc     string
		args     []string
		code     int
		contains []string // in stdout, else stderr for usage errors
	}{
		{"a name: stored and served, all pass", []string{"--config", s.config, "check", "shop"}, 0, []string{
			"shop: stored " + filepath.Dir(s.config), "shop: served by " + s.served + " (SNI shop.example.com)",
			"(SNI www.shop.example.com)", "PASS serial", "overall: PASS (3 endpoints, 0 with warnings)"}},
		{"no arguments: every certificate", []string{"--config", s.config, "check"}, 0, []string{"overall: PASS (3 endpoints"}},
		{"a host, trusted through trust.extra_roots", []string{"--config", s.config, "check", "--connect", s.served, "shop.example.com"}, 0,
			[]string{"shop.example.com: served by " + s.served + " (SNI shop.example.com)", "overall: PASS (1 endpoint, 0 with warnings)"}},
		{"a host serving the leaf only", []string{"--config", s.config, "check", "shop.example.com", "--connect", leafOnly}, 1,
			[]string{`FAIL chain     incomplete: no certificate for issuer "CN=Check Test Intermediate"`, "overall: FAIL (1 of 1 endpoint failed)"}},
		{"nginx serves another certificate than the live one", []string{"--config", s.config, "check", "--connect", otherCert, "shop"}, 1,
			[]string{"FAIL serial    the server sends serial 2002, not the expected 1001", "overall: FAIL (2 of 3 endpoints failed)"}},
		{"warnings pass", []string{"--config", s.config, "check", "--warn-days", "100", "shop"}, 0, []string{"WARN validity", "=> PASS (with warnings)"}},
		{"warnings fail with --strict", []string{"--config", s.config, "check", "--warn-days", "100", "--strict", "shop"}, 1, []string{"=> FAIL (strict: warnings fail)"}},
		{"unknown flag", []string{"--config", s.config, "check", "--bogus"}, 2, []string{"flag provided but not defined: --bogus"}},
		{"negative warn days", []string{"--config", s.config, "check", "--warn-days", "-1"}, 2, []string{"--warn-days -1: use 0 or more days"}},
		{"bad port", []string{"--config", s.config, "check", "shop.example.com:https"}, 2, []string{`port "https" is not a number`}},
		{"mistyped name", []string{"--config", s.config, "check", "shopp"}, 2, []string{`no certificate named "shopp"`, "(configured: shop)"}},
		{"broken config given explicitly", []string{"--config", broken, "check", "shop.example.com"}, 2, []string{"invalid configuration", "concurency"}},
		{"bad --connect", []string{"--config", s.config, "check", "--connect", "a:b:c:d", "shop"}, 2, []string{"--connect:"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			res := runRenewd(t, append([]string{}, tc.args...)...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.code, res)
			}
			out := res.stdout
			if tc.code == exitUsage {
				out = res.stderr
			}
			for _, c := range tc.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q\n%s", c, res)
				}
			}
		})
	}
}

func TestCheckJSON(t *testing.T) {
	s := newCheckSetup(t)
	res := runRenewd(t, "--config", s.config, "check", "--json", "shop")
	if res.code != exitOK {
		t.Fatalf("%s", res)
	}
	var doc struct {
		Verdict   string `json:"verdict"`
		Endpoints []struct {
			Target       string           `json:"target"`
			Address      string           `json:"address"`
			SNI          string           `json:"sni"`
			File         string           `json:"file"`
			Source       string           `json:"source"`
			Verdict      string           `json:"verdict"`
			Certificates []map[string]any `json:"certificates"`
			Protocols    map[string]any   `json:"protocols"`
			Findings     []map[string]any `json:"findings"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	if doc.Verdict != "pass" || len(doc.Endpoints) != 3 {
		t.Fatalf("verdict %q, %d endpoints\n%s", doc.Verdict, len(doc.Endpoints), res)
	}
	stored, served := doc.Endpoints[0], doc.Endpoints[1:]
	if stored.Source != "stored" || stored.Target != "shop" || !strings.HasSuffix(stored.File, "/live/shop/fullchain.pem") || stored.Protocols != nil {
		t.Errorf("stored endpoint = %+v", stored)
	}
	for i, sni := range []string{"shop.example.com", "www.shop.example.com"} {
		ep := served[i]
		if ep.Source != "served" || ep.Target != "shop" || ep.SNI != sni || ep.Address != s.served || ep.Verdict != "pass" {
			t.Errorf("served endpoint %d = %+v", i, ep)
		}
		if ep.Protocols["tls1_2"] != true || ep.Protocols["tls1_0"] != false {
			t.Errorf("protocols = %v", ep.Protocols)
		}
		if len(ep.Certificates) != 2 || ep.Certificates[0]["serial"] != "1001" {
			t.Errorf("certificates = %v", ep.Certificates)
		}
	}
}

func TestCheckHostsWithoutConfig(t *testing.T) {
	t.Setenv("RENEWD_CONFIG", "")
	if _, err := os.Stat("/etc/renewd/renewd.yaml"); err == nil {
		t.Skip("a configuration exists at the default path")
	}
	p := newCheckPKI(t)
	addr := serveChain(t, p.leafKey, p.leaf, p.inter)
	// The test root is in no system store: the chain is judged untrusted,
	// which proves the check ran, with the system roots only.
	res := runRenewd(t, "check", "--connect", addr, "shop.example.com")
	if res.code != exitFailed || !strings.Contains(res.stdout, `issuer "CN=Check Test Root"`) || res.stderr != "" {
		t.Errorf("%s", res)
	}
	// Without a configuration there is nothing to check by name.
	if res := runRenewd(t, "check"); res.code != exitUsage {
		t.Errorf("check without arguments or configuration: %s", res)
	}
}

func TestParseHostPort(t *testing.T) {
	tests := []struct {
		in, host, addr string
	}{
		{"shop.example.com", "shop.example.com", "shop.example.com:443"},
		{"Shop.Example.com.:8443", "shop.example.com", "shop.example.com:8443"},
		{"https://shop.example.com/path?q=1", "shop.example.com", "shop.example.com:443"},
		{"https://shop.example.com:9443/", "shop.example.com", "shop.example.com:9443"},
		{"127.0.0.1", "127.0.0.1", "127.0.0.1:443"},
		{"[::1]:8443", "::1", "[::1]:8443"},
		{"::1", "::1", "[::1]:443"},
		{"例子.中国", "xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s:443"},
	}
	for _, tc := range tests {
		host, addr, err := check.ParseHostPort(tc.in)
		if err != nil || host != tc.host || addr != tc.addr {
			t.Errorf("parseHostPort(%q) = %q, %q, %v; want %q, %q", tc.in, host, addr, err, tc.host, tc.addr)
		}
	}
	for _, bad := range []string{"", ":443", "host:0", "host:70000", "http://shop.example.com", "a b.example.com"} {
		if _, _, err := check.ParseHostPort(bad); err == nil {
			t.Errorf("parseHostPort(%q) succeeded", bad)
		}
	}
}

func TestSNIFor(t *testing.T) {
	if got := check.SNIFor("*.example.com"); got != "renewd-check.example.com" {
		t.Errorf("check.SNIFor(*.example.com) = %q", got)
	}
	if got := check.SNIFor("shop.example.com"); got != "shop.example.com" {
		t.Errorf("check.SNIFor(shop.example.com) = %q", got)
	}
}

// TestCheckFilesAndNames: FILE.pem arguments with --key and --ca-file work
// without a configuration, and a certificate renewd does not deploy to
// nginx is checked on disk only, unless --connect names a server.
func TestCheckFilesAndNames(t *testing.T) {
	s := newCheckSetup(t)
	p := s.pki
	dir := t.TempDir()
	full, leafOnly, key, otherKey, root := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "cert.pem"),
		filepath.Join(dir, "privkey.pem"), filepath.Join(dir, "other.key"), filepath.Join(dir, "root.pem")
	writeFile(t, full, string(pemOf(p.leaf, p.inter)))
	writeFile(t, leafOnly, string(pemOf(p.leaf)))
	writeFile(t, key, string(keyPEM(t, p.leafKey)))
	writeFile(t, otherKey, string(keyPEM(t, p.otherKey)))
	writeFile(t, root, string(pemOf(p.root)))
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(filepath.Dir(s.config), "domains.d", "mail.yaml"), `domains: [mail.example.com]
challenge:
  type: http-01
  http01: {webroot: /var/www/acme}
`)
	tests := []struct {
		desc     string
		args     []string
		code     int
		contains []string
		lacks    []string
	}{
		{"a file and its key, trusted through --ca-file", []string{"check", "--ca-file", root, full, "--key", key}, 0,
			[]string{full + ": file " + full, "PASS chain     complete", "PASS key       the key file matches the leaf", "overall: PASS (1 endpoint"}, nil},
		{"a file without its key", []string{"check", "--ca-file", root, full}, 0, []string{"PASS names     names shop.example.com, www.shop.example.com"}, []string{"key  "}},
		{"a leaf-only file", []string{"check", "--ca-file", root, leafOnly}, 1, []string{`FAIL chain     incomplete: no certificate for issuer "CN=Check Test Intermediate"`}, nil},
		{"a key that does not match", []string{"check", "--ca-file", root, full, "--key", otherKey}, 1, []string{"FAIL key       the key file (ECDSA P-256) does not match the leaf's key"}, nil},
		{"without --ca-file the test root is not trusted", []string{"check", full}, 1, []string{`issuer "CN=Check Test Root"`}, nil},
		{"--key without a file", []string{"check", "--key", key, "shop.example.com"}, 2, []string{"--key " + key + " goes with exactly one FILE argument"}, nil},
		{"a file that does not exist", []string{"check", filepath.Join(dir, "nope.pem")}, 2, []string{"nope.pem: no such file or directory"}, nil},
		{"a FIFO is refused, not waited on", []string{"check", fifo}, 2, []string{"fifo.pem is not a regular file: give a PEM chain file"}, nil},
		{"a name not deployed to nginx: its files only", []string{"--config", s.config, "check", "mail"}, 1,
			[]string{"mail: stored ", "no live certificate: renewd has not issued mail yet", "overall: FAIL (1 of 1 endpoint failed)"}, []string{"served by"}},
		{"a name not deployed to nginx, with --connect", []string{"--config", s.config, "check", "mail", "--connect", s.served}, 1,
			[]string{"mail: served by " + s.served + " (SNI mail.example.com)", "mail.example.com is not covered"}, []string{"serial"}},
		{"a file next to a name", []string{"--config", s.config, "check", "shop", full}, 0, []string{"overall: PASS (4 endpoints"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			args := tc.args
			if args[0] == "check" {
				// The default path: it need not exist for files and hosts.
				args = append([]string{"--config", config.DefaultPath}, args...)
			}
			res := runRenewd(t, args...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.code, res)
			}
			out := res.stdout
			if tc.code == exitUsage {
				out = res.stderr
			}
			for _, c := range tc.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q\n%s", c, res)
				}
			}
			for _, c := range tc.lacks {
				if strings.Contains(out, c) {
					t.Errorf("output has %q\n%s", c, res)
				}
			}
		})
	}
}
