package takeover

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/test/harness"
)

// certbotBinary finds Debian's certbot; its absence is a failure
// (scripts/deps.sh installs it).
func certbotBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"certbot", "/usr/bin/certbot"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("certbot not found: install Debian's certbot (scripts/deps.sh does)")
	return ""
}

// certbotRun runs certbot with its own config, work and logs directories
// under dir, trusting Pebble's HTTPS certificate.
func certbotRun(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args = append(args, "--config-dir", filepath.Join(dir, "config"), "--work-dir", filepath.Join(dir, "work"),
		"--logs-dir", filepath.Join(dir, "logs"), "--non-interactive", "--agree-tos", "-m", "certbot@example.com", "--no-eff-email")
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+env.tlsCAFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("certbot %v: %v\n%s", args, err, out)
	}
}

// TestImportCertbot: Debian's certbot makes two lineages against Pebble,
// one with its standalone server and one through nginx's webroot, and
// nginx serves them from certbot's live/ files. `renewd import certbot`
// shows a dry run that writes nothing, then with --apply takes both over:
// the configuration passes `config check`, status shows certbot's
// serials, and Pebble saw no order. When Pebble says the webroot one is
// due, `renewd renew` renews it (one order), installs the complete chain
// where nginx reads it and proves it served.
func TestImportCertbot(t *testing.T) {
	t.Parallel()
	bin := certbotBinary(t)
	pb := startPebble(t)
	cb := t.TempDir()
	live := filepath.Join(cb, "config", "live")
	certbotRun(t, bin, cb, "certonly", "--standalone", "--http-01-port", fmt.Sprint(pb.HTTPPort), "--http-01-address", "127.0.0.1",
		"--server", pb.DirURL, "-d", "sa.takeover.example", "--cert-name", "sa")

	webroot := t.TempDir()
	n := harness.NewNginx(t)
	n.Servers = []string{harness.WebrootServer(pb.HTTPPort, webroot)}
	n.Start(pb.HTTPPort)
	certbotRun(t, bin, cb, "certonly", "--webroot", "-w", webroot, "--server", pb.DirURL,
		"-d", "wr.takeover.example", "-d", "www.wr.takeover.example", "--cert-name", "wr", "--key-type", "rsa", "--rsa-key-size", "2048")
	tlsPort := harness.MustFreePort(t)
	for _, s := range []struct {
		name  string
		names []string
	}{{"sa", []string{"sa.takeover.example"}}, {"wr", []string{"wr.takeover.example", "www.wr.takeover.example"}}} {
		n.Servers = append(n.Servers, harness.TLSServer(tlsPort, s.names, filepath.Join(live, s.name, "fullchain.pem"), filepath.Join(live, s.name, "privkey.pem")))
	}
	n.Reload(tlsPort)
	certbotSerial := map[string]string{}
	for _, name := range []string{"sa", "wr"} {
		certbotSerial[name] = readCert(t, filepath.Join(live, name, "cert.pem")).SerialNumber.Text(16)
	}
	ordersBefore := pb.Orders(t)

	w := newWorkspace(t, pb, nil, nginxYAML(n, tlsPort))
	res := w.must("import", "certbot", filepath.Join(cb, "config"))
	for _, want := range []string{"dry run: nothing was written", "+++ " + filepath.Join(w.domains, "wr.yaml"), "+  http01: {webroot: " + webroot + "}",
		"+  http01: {listen: '127.0.0.1:" + fmt.Sprint(pb.HTTPPort) + "'}", "+  fullchain: " + filepath.Join(live, "wr", "fullchain.pem"),
		"mv " + filepath.Join(cb, "config", "renewal", "wr.conf"), "systemctl disable --now certbot.timer"} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, res.Stdout)
		}
	}
	if entries, _ := os.ReadDir(w.domains); len(entries) != 0 {
		t.Fatalf("the dry run wrote %d file(s) into domains.d", len(entries))
	}
	if _, err := os.Stat(w.storage); !os.IsNotExist(err) {
		t.Fatalf("the dry run touched the storage: %v", err)
	}

	res = w.must("import", "certbot", filepath.Join(cb, "config"), "--apply")
	if !strings.Contains(res.Stdout, "imported 2 certificate(s) without ordering") {
		t.Fatalf("apply: %s", res)
	}
	w.must("config", "check")
	st := w.status()
	for name, serial := range certbotSerial {
		if st[name]["serial"] != serial || st[name]["deployed_version"] != st[name]["version"] {
			t.Errorf("status of %s: %v, want certbot's serial %s, deployed", name, st[name], serial)
		}
	}
	if got := pb.Orders(t); got != ordersBefore {
		t.Fatalf("the import placed %d order(s) at Pebble", got-ordersBefore)
	}
	doc, ares := w.audit()
	if ares.Code != 0 || doc.entry(t, filepath.Join(live, "wr", "fullchain.pem")).ManagedBy != "wr" {
		t.Errorf("audit after the import: %s", ares)
	}

	// The next due renewal goes through renewd.
	dueNow(t, pb, readCert(t, filepath.Join(live, "wr", "cert.pem")))
	res = w.must("renew")
	st = w.status()
	if st["wr"]["serial"] == certbotSerial["wr"] || st["sa"]["serial"] != certbotSerial["sa"] || st["wr"]["served_chain"] != "complete" {
		t.Fatalf("after renew: wr %v, sa %v\n%s", st["wr"], st["sa"], res)
	}
	if got := pb.Orders(t); got != ordersBefore+1 {
		t.Errorf("renew placed %d order(s), want 1 (wr only)", got-ordersBefore)
	}
	roots, err := chain.LoadRoots([]string{pb.RootFile})
	if err != nil {
		t.Fatal(err)
	}
	sent := served(t, tlsPort, "wr.takeover.example")
	if sent[0].SerialNumber.Text(16) != st["wr"]["serial"] {
		t.Fatalf("nginx serves serial %x, want %v", sent[0].SerialNumber, st["wr"]["serial"])
	}
	if _, err := chain.Verify(sent, chain.Options{Roots: roots}); err != nil {
		t.Errorf("served chain: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(live, "wr", "fullchain.pem"))
	if err != nil {
		t.Fatal(err)
	}
	full, err := chain.ParsePEM(data)
	if err == nil {
		_, err = chain.Verify(full, chain.Options{Roots: roots})
	}
	if err != nil || len(full) < 2 {
		t.Errorf("%s after the renewal: %d certificate(s), %v", filepath.Join(live, "wr", "fullchain.pem"), len(full), err)
	}
}
