package importer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

func webroot(dir string) config.Challenge {
	return config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Webroot: dir}}
}

// baotaPanel writes a panel's files for a site: vhost/cert/<site>/ as the
// panel's SetSSL leaves it, and the order's own copy under
// vhost/letsencrypt/<domain>/ as save_cert writes it.
func baotaPanel(t *testing.T, panel, site string, l leaf, siteFullchain []byte) {
	t.Helper()
	writeFile(t, filepath.Join(panel, "vhost/cert", site, "fullchain.pem"), siteFullchain, 0o644)
	writeFile(t, filepath.Join(panel, "vhost/cert", site, "privkey.pem"), l.keyPEM, 0o644)
	saved := filepath.Join(panel, "vhost/letsencrypt", site)
	writeFile(t, filepath.Join(saved, "fullchain.pem"), l.fullchain, 0o644)
	writeFile(t, filepath.Join(saved, "privkey.pem"), l.keyPEM, 0o644)
	writeFile(t, filepath.Join(saved, "cert.csr"), l.certPEM, 0o644)
	writeFile(t, filepath.Join(saved, "root_cert.csr"), l.chainPEM, 0o644)
}

func TestBaotaImport(t *testing.T) {
	p := newPKI(t)
	panel := filepath.Join(t.TempDir(), "www", "server", "panel")
	shop := p.leaf(t, 0x71, "", "shop.example.com", "www.shop.example.com")
	// The leaf alone in the site's file: the broken deployment people
	// shipped with the panel's renew_cert reply.
	baotaPanel(t, panel, "shop.example.com", shop, shop.certPEM)
	dnsSite := p.leaf(t, 0x72, "", "dns.example.com")
	baotaPanel(t, panel, "dns.example.com", dnsSite, dnsSite.fullchain)
	manual := p.leaf(t, 0x73, "", "manual.example.com")
	baotaPanel(t, panel, "manual.example.com", manual, manual.fullchain)
	upload := p.leaf(t, 0x74, "", "upload.example.com")
	writeFile(t, filepath.Join(panel, "vhost/cert/upload.example.com/fullchain.pem"), upload.fullchain, 0o644)
	writeFile(t, filepath.Join(panel, "vhost/cert/upload.example.com/privkey.pem"), upload.keyPEM, 0o600)
	writeFile(t, filepath.Join(panel, "vhost/cert/0.default/fullchain.pem"), upload.fullchain, 0o644)
	writeFile(t, filepath.Join(panel, "config/letsencrypt_v2.json"), []byte(`{"orders": {
 "a1": {"status": "valid", "auth_type": "http", "auth_to": "/www/wwwroot/shop.example.com", "domains": ["www.shop.example.com", "shop.example.com"], "save_path": "vhost/letsencrypt/shop.example.com", "cert_timeout": 1800000000},
 "b2": {"status": "valid", "auth_type": "dns", "auth_to": "AliyunDns|LTAIkey|secretvalue", "domains": ["dns.example.com"], "save_path": "vhost/letsencrypt/dns.example.com"},
 "c3": {"status": "valid", "auth_type": "dns", "auth_to": "dns", "domains": ["manual.example.com"]}},
 "account": {}, "apis": {}, "email": null}`), 0o644)

	cands, err := ReadBaota(panel)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 4 {
		t.Fatalf("%d candidates, want 4 (0.default skipped)", len(cands))
	}
	cfg, _ := renewdConfig(t, p, nil)
	servers := parseServers(t, fmt.Sprintf("server { listen 443 ssl; server_name shop.example.com; ssl_certificate %[1]s/vhost/cert/shop.example.com/fullchain.pem; ssl_certificate_key %[1]s/vhost/cert/shop.example.com/privkey.pem; }\n", panel))
	pl := &Planner{Config: cfg, Roots: p.roots, Adopter: &StoreAdopter{Dir: cfg.Storage}, Nginx: servers, Now: fixedNow, Fetcher: &fakeFetcher{},
		LookupEnv: envOf(map[string]string{"ALICLOUD_ACCESS_KEY": "x", "ALICLOUD_SECRET_KEY": "y"})}
	plan := pl.Plan(context.Background(), "baota", panel, cands)

	s := itemNamed(t, plan, "shop.example.com")
	if !s.Ready() || s.Challenge.HTTP01.Webroot != "/www/wwwroot/shop.example.com" || s.Deploy.Baota.Site != "shop.example.com" || !s.Deploy.Nginx ||
		s.Deployed || s.Completed != "the tool's other certificate files" || string(s.Files.Fullchain) != string(shop.fullchain) {
		t.Errorf("shop: %+v deploy %+v deployed %v completed %q problem %v", s.Challenge, s.Deploy, s.Deployed, s.Completed, s.Problem)
	}
	if y := string(s.YAML); !strings.Contains(y, "baota:\n    site: shop.example.com\n    panel_dir: "+panel) || strings.Contains(y, "fullchain:") {
		t.Errorf("shop yaml:\n%s", y)
	}
	d := itemNamed(t, plan, "dns.example.com")
	if !d.Ready() || d.Challenge.DNS01.Provider != "alidns" || !strings.Contains(d.Env[0].From, "second field of auth_to (AliyunDns|key|secret) of order b2") ||
		strings.Contains(string(d.YAML), "LTAIkey") || d.Deploy.Nginx || !strings.Contains(strings.Join(d.Notes, " "), "nginx does not read") {
		t.Errorf("dns: %+v env %+v nginx %v notes %q problem %v", d.Challenge, d.Env, d.Deploy.Nginx, d.Notes, d.Problem)
	}
	for name, want := range map[string]string{"manual.example.com": "manual DNS challenge", "upload.example.com": "no order in"} {
		if it := itemNamed(t, plan, name); it.Problem == nil || !strings.Contains(it.Problem.Error(), want) {
			t.Errorf("%s: %v, want %q", name, it.Problem, want)
		}
	}
	if want := []string{filepath.Join(panel, "vhost/cert/shop.example.com"), filepath.Join(panel, "config"), "/www/wwwroot/shop.example.com"}; !slicesContain(plan.Sandbox, want...) {
		t.Errorf("read-write paths %q, want %q", plan.Sandbox, want)
	}
	if stop := strings.Join(plan.Stop, "\n"); !strings.Contains(stop, "echo 1 > "+filepath.Join(panel, "data/close_ssl_auto_renewal.pl")) {
		t.Errorf("stop: %s", stop)
	}
}

// TestCompletingAndRefusing: a leaf-only certificate is completed through
// its AIA URL, or refused when nothing completes it; an expired one and
// one whose key is not the leaf's are refused, and nothing is fetched for
// a complete one.
func TestCompletingAndRefusing(t *testing.T) {
	p := newPKI(t)
	aia := p.leaf(t, 0x81, "http://ca.example/inter.der", "aia.example.com")
	noAIA := p.leaf(t, 0x82, "", "noaia.example.com")
	good := p.leaf(t, 0x83, "", "good.example.com")
	other := p.leaf(t, 0x84, "", "good.example.com")
	dir := t.TempDir()
	cand := func(name string, certPEM, keyPEM []byte) *Candidate {
		writeFile(t, filepath.Join(dir, name+".pem"), certPEM, 0o644)
		writeFile(t, filepath.Join(dir, name+".key"), keyPEM, 0o600)
		return &Candidate{Name: name, Origin: name, CertFiles: []string{filepath.Join(dir, name+".pem")}, KeyFile: filepath.Join(dir, name+".key"),
			Challenge: webroot("/var/www")}
	}
	for _, tc := range []struct {
		desc    string
		c       *Candidate
		now     func() int // days from testNow
		problem string
		from    string
		fetches int
	}{
		{"leaf only, completed through AIA", cand("aia", aia.certPEM, aia.keyPEM), nil, "", "the leaf's AIA URL", 1},
		{"leaf only, no AIA: flagged", cand("noaia", noAIA.certPEM, noAIA.keyPEM), nil, "chain incomplete", "", 0},
		{"complete: nothing fetched", cand("good", good.fullchain, good.keyPEM), nil, "", "", 0},
		{"key of another certificate", cand("mismatch", good.fullchain, other.keyPEM), nil, "private key does not match", "", 0},
		{"expired", cand("expired", good.fullchain, good.keyPEM), func() int { return 100 }, "expired", "", 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, _ := renewdConfig(t, p, nil)
			f := &fakeFetcher{certs: map[string]*x509.Certificate{"http://ca.example/inter.der": p.inter.Cert}}
			now := fixedNow
			if tc.now != nil {
				now = func() time.Time { return testNow.AddDate(0, 0, tc.now()) }
			}
			pl := &Planner{Config: cfg, Roots: p.roots, Adopter: &StoreAdopter{Dir: cfg.Storage}, Now: now, Fetcher: f, LookupEnv: envOf(nil)}
			it := pl.Plan(context.Background(), "certbot", dir, []*Candidate{tc.c}).Items[0]
			switch {
			case tc.problem == "" && it.Problem != nil:
				t.Fatalf("problem: %v", it.Problem)
			case tc.problem != "" && (it.Problem == nil || !strings.Contains(it.Problem.Error(), tc.problem) || !strings.Contains(it.Problem.Error(), "not adopted")):
				t.Fatalf("problem %v, want %q", it.Problem, tc.problem)
			}
			if it.Completed != tc.from || f.n != tc.fetches {
				t.Errorf("completed from %q with %d fetches, want %q and %d", it.Completed, f.n, tc.from, tc.fetches)
			}
		})
	}
}

// TestApplyIsAllOrNothing: when the configuration with the new files does
// not load, every written file is removed again and nothing is adopted;
// an existing file is never replaced.
func TestApplyIsAllOrNothing(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	l := p.leaf(t, 0x91, "", "a.example.com")
	writeFile(t, filepath.Join(dir, "a.pem"), l.fullchain, 0o644)
	writeFile(t, filepath.Join(dir, "a.key"), l.keyPEM, 0o600)
	cfg, _ := renewdConfig(t, p, nil)
	ad := &StoreAdopter{Dir: cfg.Storage}
	pl := &Planner{Config: cfg, Roots: p.roots, Adopter: ad, Now: fixedNow, Fetcher: &fakeFetcher{}, LookupEnv: envOf(nil)}
	c := &Candidate{Name: "a", Origin: "test", CertFiles: []string{filepath.Join(dir, "a.pem")}, KeyFile: filepath.Join(dir, "a.key"), Challenge: webroot("/var/www")}
	plan := pl.Plan(context.Background(), "certbot", dir, []*Candidate{c})
	err := Apply(context.Background(), plan, ad, func() error { return fmt.Errorf("a.yaml:3: challenge: broken") })
	if err == nil || !strings.Contains(err.Error(), "nothing was imported") {
		t.Fatalf("apply: %v", err)
	}
	if _, err := os.Stat(plan.Items[0].File); !os.IsNotExist(err) {
		t.Errorf("the domains.d file was left behind: %v", err)
	}
	if m, _ := ad.Managed("a"); m {
		t.Error("adopted although the configuration did not load")
	}
	if err := writeNew(filepath.Join(dir, "a.pem"), []byte("x"), 0o644); err == nil {
		t.Error("writeNew replaced an existing file")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "a.pem")); string(data) != string(l.fullchain) {
		t.Error("the existing file changed")
	}
}

func TestCertName(t *testing.T) {
	for in, want := range map[string]string{
		"shop": "shop", "Shop.Example.com": "shop.example.com", "*.example.com": "example.com-wildcard",
		"a b/c": "a-b-c", "..x": "imported-x", strings.Repeat("a", 70): strings.Repeat("a", 64),
	} {
		if got := certName(in); got != want {
			t.Errorf("certName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAdoptReplacesALeftoverRecord: a record whose certificate has no live
// version (configured once, then removed) does not lend its retries to
// the adopted certificate, and a name with a live version is refused.
func TestAdoptReplacesALeftoverRecord(t *testing.T) {
	p := newPKI(t)
	l := p.leaf(t, 0xa1, "", "a.example.com")
	dir := t.TempDir()
	ad := &StoreAdopter{Dir: dir}
	release, err := ad.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := ad.st.SaveRecord(&store.Record{Name: "a", RetryCount: 4, LastError: "old failure"}); err != nil {
		t.Fatal(err)
	}
	files := store.Files{Cert: l.certPEM, Chain: l.chainPEM, Fullchain: l.fullchain, Key: l.keyPEM}
	version, err := ad.Adopt(Adoption{Name: "a", Files: files, Leaf: l.cert})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ad.st.Record("a")
	if err != nil {
		t.Fatal(err)
	}
	if r.RetryCount != 0 || r.LastError != "" || r.Serial != "a1" || r.Version != version || r.DeployedVersion != "" {
		t.Errorf("record %+v", r)
	}
	if _, err := ad.Adopt(Adoption{Name: "a", Files: files, Leaf: l.cert}); !errors.Is(err, ErrManaged) {
		t.Errorf("second adoption: %v", err)
	}
	if m, err := ad.Managed("a"); !m || err != nil {
		t.Errorf("Managed = %v, %v", m, err)
	}
}
