package takeover

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/test/harness"
)

// acmeshConf renders a <domain>.conf as acme.sh's _savedomainconf writes
// it: KEY='value' lines, base64 between acme.sh's markers for the hooks.
func acmeshConf(kv [][2]string) []byte {
	var b strings.Builder
	for _, p := range kv {
		fmt.Fprintf(&b, "%s='%s'\n", p[0], p[1])
	}
	return []byte(b.String())
}

func acmeshB64(s string) string {
	return "__ACME_BASE64__START_" + base64.StdEncoding.EncodeToString([]byte(s)) + "__ACME_BASE64__END_"
}

// acmeshDomain writes <home>/<dir>/ in acme.sh's layout: <domain>.conf,
// <domain>.cer (the leaf), <domain>.key, ca.cer (the intermediates),
// fullchain.cer, <domain>.csr.
func acmeshDomain(t *testing.T, home, dir, domain string, p pair, conf [][2]string) {
	t.Helper()
	d := filepath.Join(home, dir)
	writeFile(t, filepath.Join(d, domain+".conf"), acmeshConf(conf), 0o600)
	writeFile(t, filepath.Join(d, domain+".cer"), p.certPEM, 0o644)
	writeFile(t, filepath.Join(d, domain+".key"), p.keyPEM, 0o600)
	writeFile(t, filepath.Join(d, "ca.cer"), p.chainPEM, 0o644)
	writeFile(t, filepath.Join(d, "fullchain.cer"), p.fullchain, 0o644)
	writeFile(t, filepath.Join(d, domain+".csr"), []byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"), 0o644)
}

// TestImportAcmeSh: an acme.sh home as acme.sh leaves it, with a
// certificate installed for nginx with --cert-file (the leaf alone), one
// through Alibaba Cloud DNS, and one through a DNS hook renewd cannot map.
// The import takes over the first two without an order, refuses the
// third by name, and the next `renewd renew` installs the complete chain
// where nginx reads it, again without an order.
func TestImportAcmeSh(t *testing.T) {
	t.Parallel()
	pb := startPebble(t)
	ca := newOldCA(t)
	home := filepath.Join(t.TempDir(), ".acme.sh")
	ssl, webroot := filepath.Join(t.TempDir(), "ssl"), t.TempDir()
	writeFile(t, filepath.Join(home, "account.conf"), []byte("LOG_FILE='"+home+"/acme.sh.log'\n#LOG_LEVEL=1\nAUTO_UPGRADE='0'\nSAVED_Ali_Key='LTAI5tNotARealKey'\nSAVED_Ali_Secret='NotARealSecret0123456789'\nUSER_PATH='/usr/local/bin:/usr/bin:/bin'\n"), 0o600)
	web := ca.issue(t, false, "web.takeover.example", "www.web.takeover.example")
	acmeshDomain(t, home, "web.takeover.example_ecc", "web.takeover.example", web, [][2]string{
		{"Le_Domain", "web.takeover.example"}, {"Le_Alt", "www.web.takeover.example"}, {"Le_Webroot", webroot},
		{"Le_PreHook", ""}, {"Le_PostHook", ""}, {"Le_RenewHook", ""}, {"Le_API", "https://acme.zerossl.com/v2/DV90"},
		{"Le_Keylength", "ec-256"}, {"Le_OrderFinalize", "https://acme.zerossl.com/v2/DV90/order/abc/finalize"},
		{"Le_LinkCert", "https://acme.zerossl.com/v2/DV90/cert/abc"}, {"Le_CertCreateTime", "1764700000"},
		{"Le_NextRenewTimeStr", "2027-01-30T00:00:00Z"}, {"Le_NextRenewTime", "1800000000"},
		{"Le_RealCertPath", filepath.Join(ssl, "web.crt")}, {"Le_RealCACertPath", ""}, {"Le_RealKeyPath", filepath.Join(ssl, "web.key")},
		{"Le_ReloadCmd", acmeshB64("systemctl reload nginx")}, {"Le_RealFullChainPath", ""},
	})
	writeFile(t, filepath.Join(ssl, "web.crt"), web.certPEM, 0o644) // --cert-file: the leaf alone
	writeFile(t, filepath.Join(ssl, "web.key"), web.keyPEM, 0o600)
	acmeshDomain(t, home, "*.dns.takeover.example_ecc", "*.dns.takeover.example", ca.issue(t, false, "*.dns.takeover.example"), [][2]string{
		{"Le_Domain", "*.dns.takeover.example"}, {"Le_Alt", "no"}, {"Le_Webroot", "dns_ali"}, {"Le_Keylength", "ec-256"}, {"Le_API", pb.DirURL},
	})
	acmeshDomain(t, home, "he.takeover.example_ecc", "he.takeover.example", ca.issue(t, false, "he.takeover.example"), [][2]string{
		{"Le_Domain", "he.takeover.example"}, {"Le_Alt", "no"}, {"Le_Webroot", "dns_he"}, {"Le_Keylength", "ec-256"},
	})
	writeFile(t, filepath.Join(home, "ca", "acme.zerossl.com", "v2", "DV90", "account.json"), []byte("{}"), 0o600)

	tlsPort := harness.MustFreePort(t)
	n := harness.NewNginx(t)
	n.Servers = []string{harness.WebrootServer(pb.HTTPPort, webroot),
		harness.TLSServer(tlsPort, []string{"web.takeover.example", "www.web.takeover.example"}, filepath.Join(ssl, "web.crt"), filepath.Join(ssl, "web.key"))}
	n.Start(tlsPort)

	w := newWorkspace(t, pb, []string{ca.rootFile}, nginxYAML(n, tlsPort))
	w.env = []string{"ALICLOUD_ACCESS_KEY=LTAI5tNotARealKey", "ALICLOUD_SECRET_KEY=NotARealSecret0123456789"}
	ordersBefore := pb.Orders(t)

	res := w.renewd("import", "acme.sh", home, "--apply")
	if res.Code != 1 || !strings.Contains(res.Stdout, "imported 2 certificate(s) without ordering; 0 already there, 1 not imported") ||
		!strings.Contains(res.Stdout, "he.takeover.example") || !strings.Contains(res.Stdout, "dns_he has no lego equivalent") {
		t.Fatalf("import: %s", res)
	}
	for _, want := range []string{filepath.Join(ssl, "web.crt") + " does not hold the complete chain yet: the next `renewd renew` installs it there",
		"installed the leaf alone to " + filepath.Join(ssl, "web.crt"), "renewed it from the CA https://acme.zerossl.com/v2/DV90",
		"--remove -d web.takeover.example --ecc", "ALICLOUD_ACCESS_KEY is set in this environment (the old tool kept it as SAVED_Ali_Key in " + filepath.Join(home, "account.conf") + ")"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("import output lacks %q", want)
		}
	}
	if strings.Contains(res.Stdout+res.Stderr, "NotARealSecret") {
		t.Error("a DNS secret was printed")
	}
	if data, err := os.ReadFile(filepath.Join(w.domains, "dns.takeover.example-wildcard.yaml")); err != nil ||
		!strings.Contains(string(data), "ALICLOUD_SECRET_KEY: ${ALICLOUD_SECRET_KEY}") || strings.Contains(string(data), "NotARealSecret") {
		t.Errorf("dns certificate file: %v\n%s", err, data)
	}
	w.must("config", "check")
	if got := pb.Orders(t); got != ordersBefore {
		t.Fatalf("the import placed %d order(s)", got-ordersBefore)
	}
	st := w.status()
	webName := "web.takeover.example"
	if st[webName]["serial"] != web.cert.SerialNumber.Text(16) || st[webName]["deployed_version"] == st[webName]["version"] {
		t.Fatalf("status after import: %v", st[webName])
	}

	// The leaf-only file nginx reads is completed by the next renew, with
	// no order: the adopted version is deployed.
	res = w.must("renew")
	if got := pb.Orders(t); got != ordersBefore {
		t.Fatalf("renew placed %d order(s) to deploy an adopted certificate\n%s", got-ordersBefore, res)
	}
	roots, err := chain.LoadRoots([]string{ca.rootFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.WaitFor("complete chain served", 10*time.Second, func() error {
		_, err := chain.Verify(served(t, tlsPort, webName), chain.Options{Roots: roots})
		return err
	}); err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	if st := w.status(); st[webName]["served_chain"] != "complete" || st[webName]["serial"] != web.cert.SerialNumber.Text(16) {
		t.Errorf("status after renew: %v", st[webName])
	}
}
