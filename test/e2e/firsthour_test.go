package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/renewd/renewd/internal/golden"
)

// useProxy points the workspace at a counting proxy in front of pb.
func (w *workspace) useProxy(pb *pebble) *caProxy {
	w.t.Helper()
	p := startProxy(w.t, pb)
	cfg := strings.Replace(string(mustRead(w.t, w.config)), pb.DirURL, p.dirURL, 1)
	w.writeGlobal(cfg)
	return p
}

// TestConfigCheckPreflight: every problem a renewal would hit before an
// order makes config check exit 2, naming the file, the line and the
// field, and saying what to do. Nothing is sent to a CA (the directory is
// dead) and nothing is created on disk.
func TestConfigCheckPreflight(t *testing.T) {
	t.Parallel()
	dead := fmt.Sprintf("https://127.0.0.1:%d/dir", freePort(t))
	good := t.TempDir()
	http01 := func(webroot string) string {
		return fmt.Sprintf("domains: [a.example.com]\nchallenge:\n  type: http-01\n  http01: {webroot: %s}\n", webroot)
	}
	deployTo := func(dir string) string {
		return listenCert(8402, "a.example.com") + fmt.Sprintf("deploy:\n  fullchain: %s/fullchain.pem\n  key: %s/privkey.pem\n", dir, dir)
	}
	cases := []struct {
		desc   string
		global string // appended to renewd.yaml
		cert   string
		want   []string // substrings of stderr; none: exit 0
	}{
		{desc: "all good", cert: http01(good)},
		{desc: "missing webroot", cert: http01(filepath.Join(good, "nosuch")),
			want: []string{"a.yaml:4: challenge.http01.webroot:", "does not exist", "location /.well-known/acme-challenge/"}},
		{desc: "deploy directory missing", cert: deployTo(filepath.Join(good, "nosuch")),
			want: []string{"a.yaml:6: deploy.fullchain:", "create it first", "a.yaml:7: deploy.key:"}},
		{desc: "deploy directory not writable", cert: deployTo("/proc/self"),
			want: []string{"a.yaml:6: deploy.fullchain:", "cannot write in /proc/self"}},
		{desc: "unreadable CA file", global: "EXTRA_ROOTS", cert: http01(good),
			want: []string{"renewd.yaml:", "trust.extra_roots[0]", "is not a regular file"}},
		{desc: "example.com contact at Let's Encrypt", global: "", cert: http01(good),
			want: []string{"renewd.yaml:4: acme.email:", "Let's Encrypt refuses"}},
		{desc: "DNS provider without its credentials", cert: "domains: [a.example.com]\nchallenge:\n  type: dns-01\n  dns01: {provider: alidns}\n",
			want: []string{"a.yaml:", "challenge.dns01.env", "alidns needs ALICLOUD_ACCESS_KEY and ALICLOUD_SECRET_KEY", "/etc/renewd/env"}},
		{desc: "nginx that cannot be run", global: "nginx:\n  test: [/opt/nowhere/nginx, -t]\n",
			cert: deployTo(good) + "  nginx: true\n", want: []string{"renewd.yaml:", "nginx.test[0]", "/opt/nowhere/nginx cannot be run"}},
		{desc: "misspelled key", cert: strings.Replace(http01(good), "challenge:", "chalenge:", 1),
			want: []string{"a.yaml:2: chalenge: unknown field; did you mean challenge?"}},
		{desc: "misspelled provider", cert: "domains: [a.example.com]\nchallenge:\n  type: dns-01\n  dns01: {provider: clodflare}\n",
			want: []string{"a.yaml:4: challenge.dns01.provider:", "did you mean cloudflare?"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			w := newWorkspace(t, acmeSettings{directory: dead, rootFile: env.tlsCAFile})
			if tc.desc == "example.com contact at Let's Encrypt" {
				// The default directory is Let's Encrypt's: never reached here.
				w.writeGlobal(fmt.Sprintf("storage: %s\nacme:\n  ca_certificates: [%s]\n  email: ops@example.com\n", w.storage, env.tlsCAFile))
			}
			if tc.global == "EXTRA_ROOTS" { // a directory where a PEM file should be
				w.writeGlobal(strings.Replace(string(mustRead(t, w.config)), "extra_roots: ["+env.tlsCAFile+"]", "extra_roots: ["+good+"]", 1))
			} else {
				w.appendGlobal(tc.global)
			}
			w.addCert("a", tc.cert)
			res := w.renewd("config", "check")
			if len(tc.want) == 0 {
				if res.code != 0 || !strings.Contains(res.stdout, "valid, 1 certificate(s)") {
					t.Fatalf("a good configuration: %s", res)
				}
				return
			}
			if res.code != 2 {
				t.Fatalf("exit %d, want 2: %s", res.code, res)
			}
			errOut := strings.ReplaceAll(res.stderr, w.dir+"/", "")
			errOut = strings.ReplaceAll(errOut, "domains.d/", "")
			for _, s := range tc.want {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if _, err := os.Stat(w.storage); !os.IsNotExist(err) {
				t.Errorf("config check created the storage: %v", err)
			}
		})
	}
}

// TestOneBrokenCertificateBlocksNoOther: an unset ${VAR} in one file is
// reported against that certificate; renew NAME and renew --dry-run NAME
// of another go ahead; renew of the broken one, and renew of all, stop.
func TestOneBrokenCertificateBlocksNoOther(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.appendGlobal("") // keep the layout
	cfg := strings.Replace(string(mustRead(t, w.config)), "acme:\n", "acme:\n  staging_directory: "+pb.DirURL+"\n", 1)
	w.writeGlobal(cfg)
	w.addCert("shop", listenCert(pb.HTTPPort, "shop.example.com"))
	w.addCert("kiosk", "domains: [kiosk.example.com]\nchallenge:\n  type: dns-01\n  dns01:\n    provider: exec\n    env: {EXEC_PATH: \"${RENEWD_E2E_UNSET_KIOSK_SCRIPT}\"}\n")

	res := w.mustRenew("renew", "--now", "shop")
	if !strings.Contains(res.stderr, "kiosk is left out, its file has a problem:") || !strings.Contains(res.stderr, "RENEWD_E2E_UNSET_KIOSK_SCRIPT is not set") {
		t.Errorf("the broken certificate is not reported against itself:\n%s", res)
	}
	w.checkComplete("shop", []string{"shop.example.com"}, 1)
	w.mustRenew("renew", "--dry-run", "shop")
	w.mustRenew("status", "shop")

	for _, args := range [][]string{{"renew", "--now", "kiosk"}, {"renew", "--now"}, {"config", "check"}} {
		res := w.renewd(args...)
		if res.code != 2 || !strings.Contains(res.stderr, "kiosk.yaml:6: challenge.dns01.env.EXEC_PATH") {
			t.Errorf("renewd %v: want exit 2 naming kiosk.yaml's line and field: %s", args, res)
		}
	}
	if _, ok := w.state()["shop"]; !ok {
		t.Error("shop's record is gone")
	}
}

// TestAddRenewRevokeRemove is the certbot user's first hour: add a
// certificate with --now (one order, deployed and served), see it with
// status NAME, revoke it at the CA (recorded; a plain renew then replaces
// it), and remove it (its file kept aside, its record gone).
func TestAddRenewRevokeRemove(t *testing.T) {
	t.Parallel()
	domains := []string{"first.example.com", "www.first.example.com"}
	s := newSite(t, siteOpts{}, domains...)
	if err := os.Remove(filepath.Join(s.w.domains, "site.yaml")); err != nil {
		t.Fatal(err)
	}
	proxy := s.w.useProxy(s.pb)

	res := s.w.mustRenew("add", "first", "-d", domains[0], "-d", domains[1], "--webroot", s.webroot,
		"--deploy-nginx", filepath.Dir(s.fullchain), "--now")
	file := filepath.Join(s.w.domains, "first.yaml")
	if !strings.Contains(res.stdout, "wrote "+file+":") || !strings.Contains(res.stdout, "first         done") && !strings.Contains(res.stdout, " done ") {
		t.Errorf("add --now: %s", res)
	}
	if n := proxy.orders(); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
	s.w.mustRenew("config", "check")
	s.w.checkComplete("first", domains, 1)
	live := func() string {
		c, err := chainParse(s.w.live("first", "cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	serial := live()
	if got := s.servedSerial(domains[1]); got != serial {
		t.Errorf("nginx serves %s, want %s", got, serial)
	}
	res = s.w.mustRenew("status", "first")
	for _, want := range []string{"first\n", "  domains       first.example.com, www.first.example.com", "served chain  complete", "next renewal"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("status first lacks %q:\n%s", want, res.stdout)
		}
	}

	res = s.w.mustRenew("revoke", "first", "--reason", "keyCompromise")
	if !strings.Contains(res.stdout, "is revoked (keyCompromise)") {
		t.Errorf("revoke: %s", res)
	}
	var status struct{ Status string }
	if err := json.Unmarshal(s.pb.get(t, "/cert-status-by-serial/"+serial), &status); err != nil || status.Status != "Revoked" {
		t.Errorf("Pebble says %q (%v) for serial %s, want Revoked", status.Status, err, serial)
	}
	if rec := s.w.state()["first"]; rec["revoked_at"] == nil || rec["revoke_reason"] != "keyCompromise" {
		t.Errorf("the record does not say it is revoked: %v", rec)
	}
	res = s.w.mustRenew("renew") // no --now: a revoked certificate is due
	if n := proxy.orders(); n != 2 || live() == serial {
		t.Errorf("after revoke, renew placed %d orders in all (want 2) and live serial is %s (was %s): %s", n, live(), serial, res)
	}
	if rec := s.w.state()["first"]; rec["revoked_at"] != nil {
		t.Errorf("the new certificate's record still says revoked: %v", rec)
	}

	liveDir := filepath.Join(s.w.storage, "live", "first")
	res = s.w.mustRenew("remove", "first")
	if _, err := os.Stat(file + ".removed"); err != nil {
		t.Errorf("the file was not kept aside: %v\n%s", err, res)
	}
	if _, ok := s.w.state()["first"]; ok {
		t.Error("the record is still there")
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("remove without --purge deleted live/: %v", err)
	}
	if _, err := os.Stat(s.fullchain); err != nil {
		t.Errorf("the deployed file is gone: %v", err)
	}
	res = s.w.mustRenew("renew", "--now")
	if n := proxy.orders(); n != 2 {
		t.Errorf("a removed certificate was ordered: %d orders\n%s", n, res)
	}
	// Back, then purged.
	if err := os.Rename(file+".removed", file); err != nil {
		t.Fatal(err)
	}
	s.w.mustRenew("remove", "first", "--purge")
	if _, err := os.Lstat(liveDir); !os.IsNotExist(err) {
		t.Errorf("remove --purge left live/first: %v", err)
	}
}

// combined runs renewd with stdout and stderr in one stream, as a
// terminal shows them; the exit code is not checked.
func (w *workspace) combined(args ...string) string {
	w.t.Helper()
	cmd := exec.Command(env.renewd, append([]string{"--config", w.config}, args...)...)
	cmd.Env = append(append(os.Environ(), "RENEWD_CONFIG="), w.env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	_ = cmd.Run()
	return buf.String()
}

// chainParse returns the serial of the first certificate in pemData.
func chainParse(pemData []byte) (string, error) {
	certs, err := parseCerts(pemData)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", certs[0].SerialNumber), nil
}

var (
	tokenRE   = regexp.MustCompile(`acme-challenge/[A-Za-z0-9_-]{20,}`)
	timeRE    = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	versionRE = regexp.MustCompile(`\d{8}T\d{6}Z-\d{3}`)
	portRE    = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	hostPort  = regexp.MustCompile(`(example\.com):\d+`)
)

// normalize makes a command's output the same on every run: temporary
// directories, ports, tokens and times are replaced by what a reader of
// the docs would have (/etc/renewd, /var/lib/renewd, 2026-11-21T16:00:00Z).
func normalize(s string, w *workspace, webroot string) string {
	s = strings.ReplaceAll(s, webroot, "/var/www/acme")
	s = strings.ReplaceAll(s, w.storage, "/var/lib/renewd")
	s = strings.ReplaceAll(s, w.domains, "/etc/renewd/domains.d")
	s = strings.ReplaceAll(s, w.dir, "/etc/renewd")
	s = tokenRE.ReplaceAllString(s, "acme-challenge/TOKEN")
	s = timeRE.ReplaceAllString(s, "2026-11-21T16:00:00Z")
	s = versionRE.ReplaceAllString(s, "20261121T160000Z-001")
	s = hostPort.ReplaceAllString(s, "$1")
	return portRE.ReplaceAllString(s, "127.0.0.1:PORT")
}

// TestFailureLines: a webroot nginx does not serve (the classic first-hour
// mistake) fails with its cause first, on one line, once; status, status
// NAME and status --json carry that line and the whole text. The outputs
// are the golden files the README and docs/troubleshooting.md show.
func TestFailureLines(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	served, elsewhere := t.TempDir(), t.TempDir()
	startNginxWebroot(t, pb.HTTPPort, served)
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("shop", fmt.Sprintf("domains: [shop.example.com]\nchallenge:\n  type: http-01\n  http01: {webroot: %s}\n", elsewhere))

	// As a terminal shows it: stdout and stderr in one stream.
	out := w.combined("renew", "--now")
	if n := strings.Count(out, "returned 404"); n != 1 {
		t.Errorf("the cause is said %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "one or more domains had a problem") {
		t.Errorf("lego's empty first line is shown:\n%s", out)
	}
	golden.Compare(t, "renew-404", normalize("$ renewd renew --now\n"+out, w, elsewhere))

	st := w.mustRenew("status")
	golden.Compare(t, "status-404", normalize("$ renewd status\n"+st.stdout, w, elsewhere))
	detail := w.mustRenew("status", "shop")
	golden.Compare(t, "status-name-404", normalize("$ renewd status shop\n"+detail.stdout, w, elsewhere))

	var doc struct {
		Certificates []struct {
			LastError       string `json:"last_error"`
			LastErrorDetail string `json:"last_error_detail"`
		} `json:"certificates"`
	}
	js := w.mustRenew("status", "--json")
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil || len(doc.Certificates) != 1 {
		t.Fatalf("status --json: %v\n%s", err, js.stdout)
	}
	res := w.renewd("renew", "--now")
	if res.code != 1 || strings.Contains(res.stdout, "returned 404") || !strings.Contains(res.stderr, "shop             failed  http-01 for shop.example.com: ") {
		t.Errorf("the failure is not on stderr alone:\n%s", res)
	}
	c := doc.Certificates[0]
	c.LastError = hostPort.ReplaceAllString(c.LastError, "$1")
	if !strings.HasPrefix(c.LastError, "http-01 for shop.example.com: http://shop.example.com/.well-known/acme-challenge/") ||
		!strings.HasSuffix(c.LastError, "returned 404 (is nginx's location /.well-known/acme-challenge/ pointed at the webroot?)") {
		t.Errorf("last_error %q", c.LastError)
	}
	if !strings.Contains(c.LastErrorDetail, "urn:ietf:params:acme:error:unauthorized") {
		t.Errorf("last_error_detail %q lacks the CA's problem", c.LastErrorDetail)
	}
}
