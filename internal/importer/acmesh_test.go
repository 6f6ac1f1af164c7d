package importer

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// acmeshDomain writes <home>/<dir>/<domain>.conf and the files acme.sh
// keeps next to it, in acme.sh's format (KEY='value', base64 for hooks).
func acmeshDomain(t *testing.T, home, dir, domain string, l leaf, conf string) {
	t.Helper()
	d := filepath.Join(home, dir)
	writeFile(t, filepath.Join(d, domain+".cer"), l.certPEM, 0o644)
	writeFile(t, filepath.Join(d, "ca.cer"), l.chainPEM, 0o644)
	writeFile(t, filepath.Join(d, "fullchain.cer"), l.fullchain, 0o644)
	writeFile(t, filepath.Join(d, domain+".key"), l.keyPEM, 0o600)
	writeFile(t, filepath.Join(d, domain+".conf"), []byte(conf), 0o600)
}

func b64(s string) string {
	return "'" + acmeshB64Start + base64.StdEncoding.EncodeToString([]byte(s)) + acmeshB64End + "'"
}

func TestAcmeShImport(t *testing.T) {
	p := newPKI(t)
	home := t.TempDir()
	writeFile(t, filepath.Join(home, "account.conf"), []byte("LOG_FILE='/root/.acme.sh/acme.sh.log'\nSAVED_Ali_Key='LTAI-not-printed'\nSAVED_Ali_Secret='secret-not-printed'\nUSER_PATH='/usr/bin'\n"), 0o600)
	installed := filepath.Join(t.TempDir(), "nginx")
	wild := p.leaf(t, 0x61, "", "*.example.com", "example.com")
	acmeshDomain(t, home, "*.example.com_ecc", "*.example.com", wild, fmt.Sprintf(`Le_Domain='*.example.com'
Le_Alt='example.com'
Le_Webroot='dns_ali'
Le_PreHook=''
Le_PostHook=''
Le_RenewHook=''
Le_API='https://acme.zerossl.com/v2/DV90'
Le_Keylength='ec-256'
Le_OrderFinalize='https://acme.zerossl.com/v2/DV90/order/x/finalize'
Le_RealCertPath='%[1]s/cert.pem'
Le_RealCACertPath=''
Le_RealKeyPath='%[1]s/key.pem'
Le_ReloadCmd=%[2]s
Le_RealFullChainPath=''
Le_NextRenewTimeStr='2027-01-20T00:00:00Z'
Le_NextRenewTime='1800000000'
`, installed, b64("service nginx force-reload")))
	// The leaf alone where nginx reads it, as acme.sh --install-cert --cert-file left it.
	writeFile(t, filepath.Join(installed, "cert.pem"), wild.certPEM, 0o644)
	writeFile(t, filepath.Join(installed, "key.pem"), wild.keyPEM, 0o600)
	acmeshDomain(t, home, "web.example.net", "web.example.net", p.leaf(t, 0x62, "", "web.example.net"), "Le_Domain='web.example.net'\nLe_Alt='no'\nLe_Webroot='/var/www/web'\nLe_Keylength='2048'\nLe_PostHook="+b64("touch /tmp/x")+"\n")
	acmeshDomain(t, home, "sa.example.net", "sa.example.net", p.leaf(t, 0x63, "", "sa.example.net"), "Le_Domain='sa.example.net'\nLe_Alt='no'\nLe_Webroot='no'\nLe_HTTPPort='8402'\n")
	acmeshDomain(t, home, "he.example.net", "he.example.net", p.leaf(t, 0x64, "", "he.example.net"), "Le_Domain='he.example.net'\nLe_Alt='no'\nLe_Webroot='dns_he'\n")
	acmeshDomain(t, home, "man.example.net", "man.example.net", p.leaf(t, 0x65, "", "man.example.net"), "Le_Domain='man.example.net'\nLe_Alt='no'\nLe_Webroot='dns'\n")
	writeFile(t, filepath.Join(home, "ca", "acme.zerossl.com", "v2", "DV90", "account.json"), []byte("{}"), 0o600)

	cands, err := ReadAcmeSh(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := renewdConfig(t, p, nil)
	servers := parseServers(t, fmt.Sprintf("server { listen 443 ssl; server_name example.com *.example.com; ssl_certificate %[1]s/cert.pem; ssl_certificate_key %[1]s/key.pem; }\n", installed))
	pl := &Planner{Config: cfg, Roots: p.roots, Adopter: &StoreAdopter{Dir: cfg.Storage}, Nginx: servers, Now: fixedNow, Fetcher: &fakeFetcher{},
		LookupEnv: envOf(map[string]string{"ALICLOUD_ACCESS_KEY": "x", "ALICLOUD_SECRET_KEY": "y"})}
	plan := pl.Plan(context.Background(), "acme.sh", home, cands)

	w := itemNamed(t, plan, "example.com-wildcard")
	notes := strings.Join(w.Notes, "\n")
	if !w.Ready() || w.Challenge.DNS01.Provider != "alidns" || len(w.Env) != 2 || !strings.Contains(w.Env[0].From, "SAVED_Ali_Key in "+filepath.Join(home, "account.conf")) ||
		w.Deploy.Fullchain != filepath.Join(installed, "cert.pem") || !w.Deploy.Nginx || w.Deployed ||
		!strings.Contains(notes, "installed the leaf alone") || !strings.Contains(notes, "acme.zerossl.com") {
		t.Errorf("wildcard: %+v env %+v deploy %+v deployed %v notes %q problem %v", w.Challenge, w.Env, w.Deploy, w.Deployed, w.Notes, w.Problem)
	}
	if got := string(w.YAML); !strings.Contains(got, `domains: ['*.example.com', example.com]`) || strings.Contains(got, "LTAI") || strings.Contains(got, "not-printed") {
		t.Errorf("wildcard yaml:\n%s", got)
	}
	web := itemNamed(t, plan, "web.example.net")
	if !web.Ready() || web.Challenge.HTTP01.Webroot != "/var/www/web" || !strings.Contains(strings.Join(web.Notes, "\n"), "PostHook (Le_PostHook in") || strings.Contains(strings.Join(web.Notes, "\n"), "touch /tmp/x") {
		t.Errorf("web: %+v notes %q problem %v", web.Challenge, web.Notes, web.Problem)
	}
	if sa := itemNamed(t, plan, "sa.example.net"); !sa.Ready() || sa.Challenge.HTTP01.Listen != ":8402" {
		t.Errorf("standalone: %+v problem %v", sa.Challenge, sa.Problem)
	}
	for name, want := range map[string]string{"he.example.net": "dns_he has no lego equivalent", "man.example.net": "manual DNS challenge"} {
		if it := itemNamed(t, plan, name); it.Problem == nil || !strings.Contains(it.Problem.Error(), want) {
			t.Errorf("%s: %v, want %q", name, it.Problem, want)
		}
	}
	stop := strings.Join(plan.Stop, "\n")
	if !strings.Contains(stop, "--remove -d *.example.com --ecc") || !strings.Contains(stop, "--uninstall-cronjob") {
		t.Errorf("stop: %s", stop)
	}

	// Without the DNS variables in renewd's environment, the wildcard waits.
	pl.LookupEnv = envOf(nil)
	plan = pl.Plan(context.Background(), "acme.sh", home, cands)
	if w := itemNamed(t, plan, "example.com-wildcard"); w.Problem == nil || !strings.Contains(w.Problem.Error(), "set ALICLOUD_ACCESS_KEY (SAVED_Ali_Key in") ||
		strings.Contains(w.Problem.Error(), "not-printed") {
		t.Errorf("without variables: %v", w.Problem)
	}
}

func TestReadShellConf(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.conf")
	writeFile(t, f, []byte("# comment\nLe_Domain='a.example.com'\nLe_ReloadCmd="+b64("systemctl reload nginx")+"\nexport X=\"q\"\nnot a line\n"), 0o600)
	v, err := readShellConf(f)
	if err != nil || v["Le_Domain"] != "a.example.com" || v["Le_ReloadCmd"] != "systemctl reload nginx" || v["X"] != "q" || len(v) != 3 {
		t.Fatalf("%v %v", v, err)
	}
}
