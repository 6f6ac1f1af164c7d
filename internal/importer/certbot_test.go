package importer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/nginxconf"
	"github.com/renewd/renewd/internal/store"
)

// certbotLineage writes a lineage the way certbot 2.1 does: archive/<name>/
// with numbered files, live/<name>/ symlinks into it, and
// renewal/<name>.conf with params (the [renewalparams] lines).
func certbotLineage(t *testing.T, dir, name string, l leaf, params string) {
	t.Helper()
	arch, live := filepath.Join(dir, "archive", name), filepath.Join(dir, "live", name)
	for _, f := range []struct {
		base string
		data []byte
		perm os.FileMode
	}{{"cert", l.certPEM, 0o644}, {"chain", l.chainPEM, 0o644}, {"fullchain", l.fullchain, 0o644}, {"privkey", l.keyPEM, 0o600}} {
		writeFile(t, filepath.Join(arch, f.base+"1.pem"), f.data, f.perm)
		if err := os.MkdirAll(live, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "archive", name, f.base+"1.pem"), filepath.Join(live, f.base+".pem")); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = %[1]s
cert = %[2]s/cert.pem
privkey = %[2]s/privkey.pem
chain = %[2]s/chain.pem
fullchain = %[2]s/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = 6a857e0e67cf591ec9afe80e5f6b3f39
config_dir = %[3]s
server = https://acme.example/dir
%[4]s`, arch, live, dir, params)
	writeFile(t, filepath.Join(dir, "renewal", name+".conf"), []byte(conf), 0o644)
}

func TestCertbotImport(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	shop := p.leaf(t, 0x5a, "", "shop.example.com", "www.shop.example.com")
	certbotLineage(t, dir, "shop", shop, "authenticator = webroot\nwebroot_path = /var/www/shop,\nkey_type = ecdsa\n[[webroot_map]]\nshop.example.com = /var/www/shop\nwww.shop.example.com = /var/www/shop\n")
	certbotLineage(t, dir, "sa.example.com", p.leaf(t, 0x5b, "", "sa.example.com"), "http01_port = 8080\nhttp01_address = 127.0.0.1\nauthenticator = standalone\nrenew_hook = systemctl reload postfix\n")
	certbotLineage(t, dir, "two", p.leaf(t, 0x5c, "", "a.two.example.com", "b.two.example.com"), "authenticator = webroot\n[[webroot_map]]\na.two.example.com = /var/www/a\nb.two.example.com = /var/www/b\n")
	certbotLineage(t, dir, "man", p.leaf(t, 0x5d, "", "man.example.com"), "authenticator = manual\n")
	certbotLineage(t, dir, "ngx", p.leaf(t, 0x5e, "", "ngx.example.com"), "authenticator = nginx\ninstaller = nginx\n")
	certbotLineage(t, dir, "cf", p.leaf(t, 0x5f, "", "cf.example.com"), "authenticator = dns-cloudflare\ndns_cloudflare_credentials = "+filepath.Join(dir, "cf.ini")+"\n")
	writeFile(t, filepath.Join(dir, "cf.ini"), []byte("dns_cloudflare_api_token = 0123456789abcdef\n"), 0o600)

	cands, err := ReadCertbot(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, cfgPath := renewdConfig(t, p, nil)
	// nginx reads shop through certbot's live/ symlink.
	servers := parseServers(t, fmt.Sprintf("server { listen 443 ssl; server_name shop.example.com www.shop.example.com;\n ssl_certificate %[1]s/live/shop/fullchain.pem;\n ssl_certificate_key %[1]s/live/shop/privkey.pem; }\n", dir))
	ad := &StoreAdopter{Dir: cfg.Storage}
	pl := &Planner{Config: cfg, Roots: p.roots, Adopter: ad, Nginx: servers, Now: fixedNow, Fetcher: &fakeFetcher{},
		LookupEnv: envOf(map[string]string{"CLOUDFLARE_DNS_API_TOKEN": "set"})}
	plan := pl.Plan(context.Background(), "certbot", dir, cands)

	it := itemNamed(t, plan, "shop")
	if !it.Ready() || it.Challenge.HTTP01.Webroot != "/var/www/shop" || it.KeyType != "ec256" ||
		it.Deploy.Fullchain != filepath.Join(dir, "live/shop/fullchain.pem") || !it.Deploy.Nginx || !it.Deployed || it.Completed != "" {
		t.Errorf("shop: %+v (problem %v)", it, it.Problem)
	}
	sa := itemNamed(t, plan, "sa.example.com")
	if !sa.Ready() || sa.Challenge.HTTP01.Listen != "127.0.0.1:8080" || sa.Deploy.Fullchain != "" ||
		!strings.Contains(strings.Join(sa.Notes, "\n"), "renew_hook") || !strings.Contains(strings.Join(sa.Notes, "\n"), "storage (live/sa.example.com) only") {
		t.Errorf("sa: %+v notes %q problem %v", sa.Challenge, sa.Notes, sa.Problem)
	}
	cf := itemNamed(t, plan, "cf")
	if !cf.Ready() || cf.Challenge.DNS01.Provider != "cloudflare" || cf.Challenge.DNS01.Env["CLOUDFLARE_DNS_API_TOKEN"] != "${CLOUDFLARE_DNS_API_TOKEN}" ||
		strings.Contains(string(cf.YAML), "0123456789abcdef") {
		t.Errorf("cf: %+v %s (problem %v)", cf.Challenge, cf.YAML, cf.Problem)
	}
	for name, want := range map[string]string{"two": "2 webroots", "man": "authenticator manual", "ngx": "authenticator nginx edits"} {
		if it := itemNamed(t, plan, name); it.Problem == nil || !strings.Contains(it.Problem.Error(), want) {
			t.Errorf("%s: problem %v, want %q", name, it.Problem, want)
		}
	}
	if len(plan.Stop) == 0 || !strings.Contains(strings.Join(plan.Stop, "\n"), "mv "+filepath.Join(dir, "renewal", "shop.conf")) {
		t.Errorf("stop lines: %q", plan.Stop)
	}

	if want := []string{filepath.Join(dir, "live/shop"), "/var/www/shop"}; !slicesContain(plan.Sandbox, want...) || slicesContain(plan.Sandbox, "/var/www/a") {
		t.Errorf("read-write paths %q, want %q and none for refused certificates", plan.Sandbox, want)
	}
	// A dry run changed nothing on disk.
	if _, err := os.Stat(cfg.Storage); !os.IsNotExist(err) {
		t.Fatalf("the plan created the storage: %v", err)
	}
	validate := func() error {
		_, err := config.Load(cfgPath, config.Options{LookupEnv: envOf(map[string]string{"CLOUDFLARE_DNS_API_TOKEN": "set"})})
		return err
	}
	if err := Apply(context.Background(), plan, ad, validate); err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenReadOnly(cfg.Storage)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Record("shop")
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil || rec.Serial != "5a" || rec.Version == "" || rec.DeployedVersion != rec.Version || it.Version != rec.Version {
		t.Fatalf("shop record %+v", rec)
	}
	files, _, err := st.Live("shop")
	if err != nil || string(files.Fullchain) != string(shop.fullchain) || string(files.Key) != string(shop.keyPEM) {
		t.Fatalf("live shop: %v", err)
	}
	loaded, err := config.Load(cfgPath, config.Options{LookupEnv: envOf(map[string]string{"CLOUDFLARE_DNS_API_TOKEN": "set"})})
	if err != nil {
		t.Fatal(err)
	}
	if c := loaded.Certificate("shop"); c == nil || c.Deploy.Key != filepath.Join(dir, "live/shop/privkey.pem") || len(loaded.Certificates) != 3 {
		t.Fatalf("configuration after the import: %+v", loaded.Certificates)
	}

	// Importing again changes nothing and says so.
	plan2 := (&Planner{Config: loaded, Roots: p.roots, Adopter: ad, Now: fixedNow, LookupEnv: envOf(nil)}).Plan(context.Background(), "certbot", dir, cands)
	if it := itemNamed(t, plan2, "shop"); it.Skip == "" {
		t.Errorf("second import of shop: %+v problem %v", it.Skip, it.Problem)
	}
}

func parseServers(t *testing.T, servers string) []nginxconf.Server {
	t.Helper()
	d, err := nginxconf.ParseDump([]byte("# configuration file /etc/nginx/nginx.conf:\nhttp {\n" + servers + "}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := nginxconf.Load(d, d.Main())
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Servers()
}

func slicesContain(s []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, x := range s {
			found = found || x == w
		}
		if !found {
			return false
		}
	}
	return true
}
