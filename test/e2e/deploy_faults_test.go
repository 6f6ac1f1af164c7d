package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/chain"
)

// deployedSite returns a site that already serves a good certificate from
// a first successful run, with its serial.
func deployedSite(t *testing.T, o siteOpts, domain string) (*site, string) {
	t.Helper()
	s := newSite(t, o, domain)
	s.w.mustRenew("renew", "--now")
	serial := s.servedSerial(domain)
	if serial != s.liveSerial() {
		t.Fatalf("first deploy: served %s, stored %s", serial, s.liveSerial())
	}
	return s, serial
}

// failRenew runs renew --now expecting exit 1 with want in the output.
func (s *site) failRenew(want string) result {
	s.t.Helper()
	res := s.w.renewd("renew", "--now")
	if res.code != 1 || !strings.Contains(res.stdout+res.stderr, want) {
		s.t.Fatalf("want exit 1 mentioning %q, got %s", want, res)
	}
	st := s.w.state()["site"]
	if st["retry_count"] != float64(1) || st["next_retry_time"] == nil || st["last_error"] == nil {
		s.t.Errorf("the failed deploy is not recorded for a retry: %v", st)
	}
	if st["deployed_version"] == st["version"] {
		s.t.Errorf("deployed_version moved to %v although the deploy failed", st["version"])
	}
	return res
}

// TestNginxTestFails: a broken include elsewhere makes nginx -t fail.
// Nothing is reloaded, the previous files are restored, the old
// certificate is still served; once the config is fixed, the next run
// deploys the stored certificate without a new order.
func TestNginxTestFails(t *testing.T) {
	t.Parallel()
	// A retry time that has passed by the next run, so the plain run
	// below may act without the test waiting.
	s, old := deployedSite(t, siteOpts{retry: "{initial: 1ms, max: 1ms}"}, "brokeninclude.example.com")
	oldFull := mustRead(t, s.fullchain)
	broken := filepath.Join(s.ng.prefix, "broken.conf")
	if err := os.WriteFile(broken, []byte("this is not nginx;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.ng.extra = "include " + broken + ";"
	s.ng.writeConf()

	s.failRenew("nginx test failed")
	if got := s.servedSerial("brokeninclude.example.com"); got != old {
		t.Errorf("nginx serves %s after a failed nginx -t, want the old %s", got, old)
	}
	if !bytes.Equal(mustRead(t, s.fullchain), oldFull) {
		t.Error("the previous fullchain was not restored")
	}

	// Fixed by the operator: a plain run deploys what is stored, no order.
	s.ng.extra = ""
	s.ng.writeConf()
	versions0 := versions(t, s.w.storage, "site")
	res := s.w.mustRenew("renew")
	if !strings.Contains(res.stdout, "no new order") {
		t.Errorf("the pending deploy was not done from storage:\n%s", res.stdout)
	}
	if v := versions(t, s.w.storage, "site"); len(v) != len(versions0) {
		t.Errorf("a new order was made: versions %v -> %v", versions0, v)
	}
	if got, want := s.servedSerial("brokeninclude.example.com"), s.liveSerial(); got != want {
		t.Errorf("after the fix nginx serves %s, want the stored %s", got, want)
	}
}

// TestNginxNotRunning: the reload fails; files are restored, so nginx
// started again serves the previous certificate.
func TestNginxNotRunning(t *testing.T) {
	t.Parallel()
	s, old := deployedSite(t, siteOpts{standalone: true}, "down.nginx.example.com")
	oldFull := mustRead(t, s.fullchain)
	s.ng.stop()
	s.failRenew("nginx reload failed")
	if !bytes.Equal(mustRead(t, s.fullchain), oldFull) {
		t.Error("the previous fullchain was not restored")
	}
	s.ng.start(s.httpsPort)
	if got := s.servedSerial("down.nginx.example.com"); got != old {
		t.Errorf("nginx started again serves %s, want the previous %s", got, old)
	}
}

// TestReloadHangs: a reload command that never returns is killed at
// nginx.timeout, with everything it started; the old certificate stays.
func TestReloadHangs(t *testing.T) {
	t.Parallel()
	script := filepath.Join(t.TempDir(), "hang.sh")
	pidFile := script + ".pid"
	writeScript(t, script, fmt.Sprintf("sleep 300 &\necho $! > %s\nsleep 300\n", pidFile))
	s, old := deployedSite(t, siteOpts{}, "hang.example.com")
	// The operator swaps in a reload command that hangs.
	s.w.writeGlobal(strings.Replace(string(mustRead(t, s.w.config)), yamlArgv(s.ng.argv("-s", "reload")), "["+script+"]", 1))
	s.w.writeGlobal(strings.Replace(string(mustRead(t, s.w.config)), "timeout: 10s\n", "timeout: 2s\n", 1))
	s.failRenew("timed out")
	if got := s.servedSerial("hang.example.com"); got != old {
		t.Errorf("nginx serves %s, want the old %s", got, old)
	}
	if pid := readPid(t, pidFile); alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the reload's child %d survived the timeout", pid)
	}
}

// TestReloadForks: a reload command that leaves a child holding its output
// (an init script starting a helper) still counts as done.
func TestReloadForks(t *testing.T) {
	t.Parallel()
	script := filepath.Join(t.TempDir(), "fork.sh")
	pidFile := script + ".pid"
	s := newSite(t, siteOpts{reload: []string{script}}, "fork.example.com")
	writeScript(t, script, fmt.Sprintf("sleep 300 &\necho $! > %s\nexec %s\n", pidFile, strings.Join(s.ng.argv("-s", "reload"), " ")))
	t.Cleanup(func() { _ = syscall.Kill(readPid(t, pidFile), syscall.SIGKILL) })
	s.w.mustRenew("renew", "--now")
	if got, want := s.servedSerial("fork.example.com"), s.liveSerial(); got != want {
		t.Errorf("served %s, want %s", got, want)
	}
}

// TestNginxServesLeafOnly: nginx is pointed at renewd's cert.pem (the leaf
// alone) instead of the fullchain: the served chain is incomplete and
// renewd must say so loudly and fail. `renewd check`, by name and by host,
// names the missing intermediate; it passes while the deploy is good.
func TestNginxServesLeafOnly(t *testing.T) {
	t.Parallel()
	const domain = "leafonly.nginx.example.com"
	s, old := deployedSite(t, siteOpts{}, domain)
	oldFull := mustRead(t, s.fullchain)
	if res := s.w.renewd("check", "site"); res.code != 0 || !strings.Contains(res.stdout, "overall: PASS") {
		t.Errorf("renewd check site after a good deploy: want exit 0, got %s", res)
	}

	live := filepath.Join(s.w.storage, "live", "site")
	s.ng.servers = s.ng.servers[:1]
	s.ng.tls(s.httpsPort, s.domains, filepath.Join(live, "cert.pem"), filepath.Join(live, "privkey.pem"))
	s.ng.writeConf()
	res := s.failRenew("complete chain")
	if !strings.Contains(res.stderr, "incomplete") {
		t.Errorf("the failure does not say the served chain is incomplete:\n%s", res.stderr)
	}
	if st := s.w.state()["site"]; st["served_chain"] != "incomplete" || st["served_checked_at"] == nil {
		t.Errorf("record: served_chain %v at %v, want incomplete", st["served_chain"], st["served_checked_at"])
	}
	if out := s.w.renewd("status").stdout; !strings.Contains(out, "INCOMPLETE") {
		t.Errorf("status does not show the incomplete served chain:\n%s", out)
	}

	// The rollback restored the deploy files, not live/: the new version
	// stays stored and live, so after the rollback's reload this nginx,
	// reading live/site/cert.pem, still sends the new leaf alone.
	newSerial := s.liveSerial()
	if newSerial == old {
		t.Fatalf("live/site still holds the previous serial %s: no new certificate was stored", old)
	}
	if sent := s.served(domain); len(sent) != 1 || fmt.Sprintf("%x", sent[0].SerialNumber) != newSerial {
		t.Errorf("after the rollback nginx sends %d certificate(s), want the new leaf %s alone", len(sent), newSerial)
	}
	if !bytes.Equal(mustRead(t, s.fullchain), oldFull) {
		t.Error("the previous fullchain was not restored")
	}

	// `renewd check` names the intermediate nginx leaves out: by certificate
	// name (the stored chain and what nginx.verify.address serves) and by
	// host.
	inter, err := chain.ParsePEM(s.w.live("site", "chain.pem"))
	if err != nil || len(inter) == 0 {
		t.Fatalf("live/site/chain.pem: %v", err)
	}
	missing := "incomplete: no certificate for issuer \"" + inter[0].Subject.String() + "\""
	for _, args := range [][]string{
		{"check", "site"},
		{"check", "--connect", fmt.Sprintf("127.0.0.1:%d", s.httpsPort), domain},
	} {
		res := s.w.renewd(args...)
		if res.code != 1 || !strings.Contains(res.stdout, missing) {
			t.Errorf("renewd %s: want exit 1 saying %q, got %s", strings.Join(args, " "), missing, res)
		}
	}

	// The operator points nginx back at the deployed files, which the
	// rollback restored: nginx serves the previous certificate, complete.
	s.ng.servers = s.ng.servers[:1]
	s.ng.tls(s.httpsPort, s.domains, s.fullchain, s.key)
	s.ng.writeConf()
	if out, err := exec.Command(s.ng.bin, s.ng.argv("-s", "reload")[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("reload nginx: %v\n%s", err, out)
	}
	// An old worker keeps answering for a moment after a reload: the
	// previous certificate, complete, on three fresh connections in a row,
	// as renewd's own verification asks.
	roots, err := chain.LoadRoots([]string{s.pb.RootFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitFor("nginx to serve the restored files", 20*time.Second, func() error {
		for range 3 {
			sent := s.served(domain)
			if got := fmt.Sprintf("%x", sent[0].SerialNumber); got != old {
				return fmt.Errorf("serves %s, want the previous %s", got, old)
			}
			if _, err := chain.Verify(sent, chain.Options{Roots: roots}); err != nil {
				return fmt.Errorf("the previous certificate without a complete chain: %w", err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDeployDirMissing: a deploy path in a missing directory is caught
// before any ACME order.
func TestDeployDirMissing(t *testing.T) {
	t.Parallel()
	s, old := deployedSite(t, siteOpts{}, "nodir.example.com")
	before := versions(t, s.w.storage, "site")
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	s.w.addCert("site", fmt.Sprintf("domains: [nodir.example.com]\nchallenge:\n  type: http-01\n  http01: {webroot: %s}\ndeploy:\n  fullchain: %s/f.pem\n  key: %s/k.pem\n  nginx: true\n",
		s.webroot, missing, missing))
	res := s.w.renewd("renew", "--now")
	if res.code != 1 || !strings.Contains(res.stderr, missing) {
		t.Fatalf("want exit 1 naming %s, got %s", missing, res)
	}
	if after := versions(t, s.w.storage, "site"); len(after) != len(before) {
		t.Errorf("an order was made before the deploy directory was checked: %v -> %v", before, after)
	}
	if got := s.servedSerial("nodir.example.com"); got != old {
		t.Errorf("nginx serves %s, want the previous %s", got, old)
	}
}

// TestHookFails: a failing deploy hook fails the renewal visibly (exit 1,
// state) even though the certificate is served.
func TestHookFails(t *testing.T) {
	t.Parallel()
	s := newSite(t, siteOpts{deploy: "  hooks: [[/bin/false]]\n"}, "hook.example.com")
	res := s.w.renewd("renew", "--now")
	if res.code != 1 || !strings.Contains(res.stderr, "deploy hook failed") {
		t.Fatalf("want exit 1 with the hook failure, got %s", res)
	}
	if st := s.w.state()["site"]; !strings.Contains(fmt.Sprint(st["last_error"]), "deploy hook failed") {
		t.Errorf("last_error = %v", st["last_error"])
	}
	if status := s.w.renewd("status"); !strings.Contains(status.stdout, "deploy hook failed") {
		t.Errorf("status does not show the hook failure:\n%s", status.stdout)
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	if _, err := fmt.Sscan(string(mustRead(t, path)), &pid); err != nil || pid <= 1 {
		t.Fatalf("pid file %s: %v", path, err)
	}
	return pid
}

// alive reports whether pid runs. A killed child whose parent died too is
// a zombie until init reaps it (a container's init may never do so): that
// counts as dead.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "123 (sleep) Z ...".
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
