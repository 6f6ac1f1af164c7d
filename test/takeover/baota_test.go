package takeover

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/test/harness"
)

// panel is a BaoTa panel tree: <root>/www/server/panel with its vhost/
// and config/, and the panel's nginx at <root>/www/server/nginx.
type panel struct {
	dir, wwwroot string
	nginx        *harness.Nginx
	site         string
	orders       string // config/letsencrypt_v2.json
}

// siteConf is a site's vhost/nginx/<site>.conf the way the panel writes
// it (panelSite.py), on test ports.
const siteConf = `server
{
    listen 127.0.0.1:%[1]d;
    listen 127.0.0.1:%[2]d ssl;
    server_name %[3]s www.%[3]s;
    index index.php index.html index.htm default.php default.htm default.html;
    root %[4]s;
    #CERT-APPLY-CHECK--START
    # 用于SSL证书申请时的文件验证相关配置 -- 请勿删除
    include %[5]s/vhost/nginx/well-known/%[3]s.conf;
    #CERT-APPLY-CHECK--END

    #SSL-START SSL相关配置，请勿删除或修改下一行带注释的404规则
    #error_page 404/404.html;
    ssl_certificate    %[5]s/vhost/cert/%[3]s/fullchain.pem;
    ssl_certificate_key    %[5]s/vhost/cert/%[3]s/privkey.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 10m;
    add_header Strict-Transport-Security "max-age=31536000";
    error_page 497  https://$host$request_uri;
    #SSL-END

    location ~ \.well-known{
        allow all;
    }
    access_log  %[6]s/%[3]s.log;
    error_log  %[6]s/%[3]s.error.log;
}
`

// newPanel lays out the panel for site with the certificate p, whose
// site file holds the leaf alone (what a script that used the renew_cert
// reply's "cert" field shipped), and starts the panel's nginx.
func newPanel(t *testing.T, site string, p pair, httpPort, tlsPort int) *panel {
	t.Helper()
	root := filepath.Join(t.TempDir(), "www")
	pn := &panel{dir: filepath.Join(root, "server", "panel"), wwwroot: filepath.Join(root, "wwwroot", site), site: site}
	pn.orders = filepath.Join(pn.dir, "config", "letsencrypt_v2.json")
	bin := filepath.Join(root, "server", "nginx", "sbin", "nginx")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(harness.MustNginxBinary(t), bin); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(root, "wwwlogs")
	for _, d := range []string{pn.wwwroot, logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(pn.dir, "vhost/nginx", site+".conf"), []byte(fmt.Sprintf(siteConf, httpPort, tlsPort, site, pn.wwwroot, pn.dir, logs)), 0o644)
	writeFile(t, filepath.Join(pn.dir, "vhost/nginx/well-known", site+".conf"), nil, 0o644)
	writeFile(t, filepath.Join(pn.dir, "vhost/cert", site, "fullchain.pem"), p.certPEM, 0o644)
	writeFile(t, filepath.Join(pn.dir, "vhost/cert", site, "privkey.pem"), p.keyPEM, 0o644)
	saved := filepath.Join(pn.dir, "vhost/letsencrypt", site)
	for name, data := range map[string][]byte{"fullchain.pem": p.fullchain, "privkey.pem": p.keyPEM, "cert.csr": p.certPEM, "root_cert.csr": p.chainPEM} {
		writeFile(t, filepath.Join(saved, name), data, 0o644)
	}
	orders := fmt.Sprintf(`{"orders": {"4f2a9c": {"status": "valid", "auth_type": "http", "domains": ["%[1]s", "www.%[1]s"], "auth_to": "%[2]s", "certificate_url": "https://acme-v02.api.letsencrypt.org/acme/cert/04f2", "index": "4f2a9c", "create_time": 1764000000, "renew_time": 0, "cert_timeout": %[3]d, "save_path": "vhost/letsencrypt/%[1]s", "retry_count": 2, "next_retry_time": 1764900000}, "77ab01": {"status": "valid", "auth_type": "dns", "domains": ["other.example.net"], "auth_to": "dns", "cert_timeout": 1770000000, "save_path": "vhost/letsencrypt/other.example.net"}}, "account": {"Production": {"key": "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n", "kid": "https://acme-v02.api.letsencrypt.org/acme/acct/1"}}, "apis": {"Production": {"directory": {"newOrder": "https://acme-v02.api.letsencrypt.org/acme/new-order"}, "expires": 1764986400.5}}, "email": "ops@example.com"}`,
		site, pn.wwwroot, p.cert.NotAfter.Unix())
	writeFile(t, pn.orders, []byte(orders), 0o644)
	nginxDir := filepath.Join(root, "server", "nginx")
	pn.nginx = harness.NewNginxAt(t, bin, nginxDir, filepath.Join(nginxDir, "conf", "nginx.conf"))
	pn.nginx.Extra = "include " + filepath.Join(pn.dir, "vhost/nginx/*.conf") + ";"
	pn.nginx.Start(tlsPort)
	return pn
}

// order reads the panel's order for the site from letsencrypt_v2.json,
// failing unless the file is valid JSON.
func (pn *panel) order(t *testing.T) (map[string]any, map[string]any) {
	t.Helper()
	data, err := os.ReadFile(pn.orders)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("letsencrypt_v2.json is no longer JSON: %v\n%s", err, data)
	}
	return doc["orders"].(map[string]any)["4f2a9c"].(map[string]any), doc
}

// TestBaotaPanel: a site of a BaoTa panel serves the leaf alone from the
// panel's files through the panel's nginx. `renewd import baota` takes
// it over without an order, `renewd audit nginx` (through the panel's
// nginx) finds the leaf-only file, the next `renewd renew` installs the
// complete chain, and a renewal through Pebble keeps the panel's
// letsencrypt_v2.json valid and in line with what nginx serves.
func TestBaotaPanel(t *testing.T) {
	t.Parallel()
	pb := startPebble(t)
	ca := newOldCA(t)
	site := "shop.takeover.example"
	old := ca.issue(t, false, site, "www."+site)
	tlsPort := harness.MustFreePort(t)
	pn := newPanel(t, site, old, pb.HTTPPort, tlsPort)
	w := newWorkspace(t, pb, []string{ca.rootFile}, fmt.Sprintf("  verify: {address: \"127.0.0.1:%d\"}\n", tlsPort))
	ordersBefore := pb.Orders(t)

	res := w.must("import", "baota", pn.dir, "--apply")
	siteFile := filepath.Join(pn.dir, "vhost/cert", site, "fullchain.pem")
	for _, want := range []string{"+  baota:", "site: " + site, "panel_dir: " + pn.dir, "webroot: " + pn.wwwroot,
		"lacks intermediates; they were found in the tool's other certificate files", "does not hold the complete chain yet",
		"echo 1 > " + filepath.Join(pn.dir, "data", "close_ssl_auto_renewal.pl"), "imported 1 certificate(s) without ordering"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("import output lacks %q:\n%s", want, res.Stdout)
		}
	}
	w.must("config", "check")
	if pb.Orders(t) != ordersBefore {
		t.Fatal("the import placed an order")
	}

	// audit asks the panel's nginx (renewd.yaml names none) and finds the
	// leaf alone in the site's file, now managed by renewd.
	doc, ares := w.audit()
	e := doc.entry(t, siteFile)
	if ares.Code != 1 || !strings.Contains(doc.Source, filepath.Join("server", "nginx", "sbin", "nginx")+" -T") || e.ManagedBy != site ||
		e.File == nil || e.File.Verdict != "fail" || !strings.Contains(strings.Join(e.Fixes, " "), "at a full chain") {
		t.Fatalf("audit of the panel: %s", ares)
	}

	// The next run deploys the adopted version, complete, with no order.
	w.must("renew")
	if pb.Orders(t) != ordersBefore {
		t.Fatal("deploying the adopted certificate placed an order")
	}
	if doc, ares = w.audit(); ares.Code != 0 {
		t.Fatalf("audit after the deploy: %s", ares)
	}

	// A renewal through Pebble: the panel's order follows it.
	before := time.Now().Add(-time.Second).Unix()
	res = w.must("renew", "--now", site)
	if pb.Orders(t) != ordersBefore+1 || !strings.Contains(res.Stdout, "panel order(s) updated") {
		t.Fatalf("renew --now: %s", res)
	}
	roots, err := chain.LoadRoots([]string{pb.RootFile})
	if err != nil {
		t.Fatal(err)
	}
	sent := served(t, tlsPort, site)
	if _, err := chain.Verify(sent, chain.Options{Roots: roots}); err != nil {
		t.Fatalf("served after the renewal: %v", err)
	}
	o, all := pn.order(t)
	if int64(o["cert_timeout"].(float64)) != sent[0].NotAfter.Unix() || int64(o["renew_time"].(float64)) < before ||
		o["save_path"] != "vhost/cert/"+site || o["retry_count"].(float64) != 0 || o["next_retry_time"].(float64) != 0 ||
		o["auth_to"] != pn.wwwroot || o["certificate_url"] == nil {
		t.Errorf("the panel's order after the renewal: %v", o)
	}
	if other := all["orders"].(map[string]any)["77ab01"].(map[string]any); other["cert_timeout"].(float64) != 1770000000 || all["email"] != "ops@example.com" || all["account"] == nil {
		t.Errorf("the rest of the panel's file changed: %v", all)
	}
	if fi, err := os.Stat(pn.orders); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("letsencrypt_v2.json mode: %v %v", fi.Mode().Perm(), err)
	}
	if fi, err := os.Stat(filepath.Join(pn.dir, "vhost/cert", site, "privkey.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the site's key mode: %v %v", fi.Mode().Perm(), err)
	}
}
