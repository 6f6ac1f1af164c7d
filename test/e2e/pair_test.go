package e2e

import (
	"crypto"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/testpki"
)

// wantPairMatches fails unless deploy.fullchain and deploy.key, read as
// nginx reads them (through links), are a certificate and its key.
func (s *site) wantPairMatches(when string) {
	s.t.Helper()
	certs, err := chain.ParsePEM(mustRead(s.t, s.fullchain))
	if err != nil {
		s.t.Fatalf("%s: deploy.fullchain: %v", when, err)
	}
	key, err := certcrypto.ParsePEMPrivateKey(mustRead(s.t, s.key))
	if err != nil {
		s.t.Fatalf("%s: deploy.key: %v", when, err)
	}
	if !chain.KeyMatches(certs[0], key.(crypto.Signer)) {
		s.t.Fatalf("%s: deploy.fullchain (serial %x) and deploy.key do not match", when, certs[0].SerialNumber)
	}
}

// coldStart stops nginx and starts it again from its files, as after a
// reboot, and checks that nginx -t passes first.
func (s *site) coldStart(when string) {
	s.t.Helper()
	s.ng.stop()
	if out, err := exec.Command(s.ng.bin, s.ng.argv("-t")[1:]...).CombinedOutput(); err != nil {
		s.t.Fatalf("%s: nginx -t: %v\n%s", when, err, out)
	}
	s.ng.start(s.httpsPort)
}

// asOlderRenewd replaces renewd's links at the deploy paths by regular
// files holding fullchain and key, as an older renewd (or a person)
// installed them.
func (s *site) asOlderRenewd(fullchain, key []byte) {
	s.t.Helper()
	for _, f := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{{s.fullchain, fullchain, 0o644}, {s.key, key, 0o600}} {
		if err := os.Remove(f.path); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(f.path, f.data, f.perm); err != nil {
			s.t.Fatal(err)
		}
	}
}

// TestKillBetweenPairInstalls kills renewd with SIGKILL between installing
// the fullchain and the key (writing the new version; turning the files
// an older renewd left into links), then restarts nginx from cold, as
// after a power cut: nginx starts, with a matching pair and a complete
// chain, and the next run deploys the stored certificate without a new
// order.
func TestKillBetweenPairInstalls(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"deploy-wrote-fullchain", "deploy-linked-fullchain"} {
		t.Run(point, func(t *testing.T) {
			domain := strings.TrimPrefix(point, "deploy-") + ".pair.example.com"
			s, old := deployedSite(t, siteOpts{retry: "{initial: 1ms, max: 1ms}"}, domain)
			if point == "deploy-linked-fullchain" {
				s.asOlderRenewd(mustRead(t, s.fullchain), mustRead(t, s.key))
			}
			if killed, out := s.w.crashRenew(point, "renew", "--now"); !killed {
				t.Fatalf("renewd was not killed at %s:\n%s", point, out)
			}
			s.wantPairMatches("after the kill")
			s.coldStart("after the kill")
			if got := s.servedSerial(domain); got != old {
				t.Errorf("nginx started from cold serves %s, want the previous %s", got, old)
			}

			stored := versions(t, s.w.storage, "site")
			res := s.w.mustRenew("renew", "--wait", "0s")
			if !strings.Contains(res.stdout, "no new order") {
				t.Errorf("the stored certificate was not deployed from storage:\n%s", res.stdout)
			}
			if got := versions(t, s.w.storage, "site"); len(got) != len(stored) {
				t.Errorf("the run after the kill ordered again: %v -> %v", stored, got)
			}
			s.wantPairMatches("after the next run")
			if served, live := s.servedSerial(domain), s.liveSerial(); served != live {
				t.Errorf("nginx serves %s, live is %s", served, live)
			}
			s.coldStart("after the next run")
			if served, live := s.servedSerial(domain), s.liveSerial(); served != live {
				t.Errorf("nginx started from cold serves %s, live is %s", served, live)
			}
		})
	}
}

// TestMismatchedPairNginxDown is the failure an older renewd could not get
// out of: killed between its two renames, it left a new fullchain next to
// the old key; nginx then could not start; every later run failed to
// reload the stopped nginx and "restored" that broken pair. Now the
// broken pair is never restored: without nginx.start the new pair stays
// installed and passes nginx -t, so nginx starts; with nginx.start renewd
// starts nginx itself and proves what it serves.
func TestMismatchedPairNginxDown(t *testing.T) {
	t.Parallel()
	const domain = "mismatch.pair.example.com"
	s, _ := deployedSite(t, siteOpts{standalone: true, retry: "{initial: 1ms, max: 1ms}"}, domain)
	k, err := testpki.NewKey(testpki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	// nginx goes down (a reboot); `nginx -s quit` cannot stop it once its
	// configuration is broken, a signal can.
	pid := readPid(t, filepath.Join(s.ng.prefix, "nginx.pid"))
	s.asOlderRenewd(mustRead(t, s.fullchain), testpki.ECKeyPEM(k))
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	if err := waitFor("nginx to exit", 20*time.Second, func() error {
		if alive(pid) {
			return fmt.Errorf("nginx %d still runs", pid)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(s.ng.bin, s.ng.argv("-t")[1:]...).CombinedOutput(); err == nil {
		t.Fatalf("nginx -t passes with a mismatched pair:\n%s", out)
	}

	// No nginx.start: the reload fails, the new pair stays, nginx can start.
	res := s.failRenew("nginx reload failed")
	if !strings.Contains(res.stderr, "stay installed") {
		t.Errorf("the failure line (on stderr) does not say the new files stay:\n%s", res)
	}
	s.wantPairMatches("after the failed reload")
	s.ng.start(s.httpsPort)
	if served, live := s.servedSerial(domain), s.liveSerial(); served != live {
		t.Errorf("nginx started by hand serves %s, live is %s", served, live)
	}

	// With nginx.start, a stopped nginx is started and verified.
	s.ng.stop()
	cfg := string(mustRead(t, s.w.config))
	reload := "  reload: " + yamlArgv(s.ng.argv("-s", "reload")) + "\n"
	s.w.writeGlobal(strings.Replace(cfg, reload, reload+"  start: "+yamlArgv(s.ng.argv())+"\n", 1))
	t.Cleanup(s.ng.stop)
	res = s.w.mustRenew("renew", "--now")
	if !strings.Contains(res.stdout, "after the reload failed") {
		t.Errorf("the run does not say it started nginx:\n%s", res.stdout)
	}
	if served, live := s.servedSerial(domain), s.liveSerial(); served != live {
		t.Errorf("nginx started by renewd serves %s, live is %s", served, live)
	}
}

// TestHostileDeployPaths: a deploy path that is a FIFO, a link to
// /dev/zero or a link to another file is refused by path before any order
// and before anything is installed; renewd neither hangs nor reads without
// bound, and the file behind a link is left as it was.
func TestHostileDeployPaths(t *testing.T) {
	t.Parallel()
	other := filepath.Join(t.TempDir(), "app.conf")
	if err := os.WriteFile(other, []byte("keep me\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc  string
		field string
		make  func(t *testing.T, path string)
		want  string
	}{
		{desc: "the key is a link to /dev/zero", field: "key", want: "is a symbolic link to /dev/zero", make: func(t *testing.T, path string) {
			if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
		}},
		{desc: "the fullchain is a FIFO", field: "fullchain", want: "is a named pipe (FIFO)", make: func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{desc: "the key is a link to another file", field: "key", want: "is a symbolic link to " + other, make: func(t *testing.T, path string) {
			if err := os.Symlink(other, path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			domain := string(rune('a'+i)) + ".hostile.example.com"
			s, old := deployedSite(t, siteOpts{}, domain)
			path := map[string]string{"fullchain": s.fullchain, "key": s.key}[tt.field]
			orig := mustRead(t, path)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			tt.make(t, path)
			// Before nginx is stopped: `nginx -s quit` reads its
			// configuration, and would block on the FIFO too.
			t.Cleanup(func() {
				_ = os.Remove(path)
				_ = os.WriteFile(path, orig, 0o600)
			})
			before := versions(t, s.w.storage, "site")

			res := s.w.renewd("renew", "--now")
			if res.code != 1 || !strings.Contains(res.stdout+res.stderr, "deploy."+tt.field+" "+path+" "+tt.want) {
				t.Fatalf("want exit 1 naming %s and saying it %s, got %s", path, tt.want, res)
			}
			if after := versions(t, s.w.storage, "site"); len(after) != len(before) {
				t.Errorf("an order was made for an unusable deploy path: %v -> %v", before, after)
			}
			if got := s.servedSerial(domain); got != old {
				t.Errorf("nginx serves %s, want the previous %s", got, old)
			}
			if data, err := os.ReadFile(other); err != nil || string(data) != "keep me\n" {
				t.Errorf("the file behind the link changed: %q, %v", data, err)
			}
			if fi, err := os.Stat(other); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("the file behind the link changed mode: %v, %v", fi, err)
			}
			if st := s.w.state()["site"]; !strings.Contains(st["last_error"].(string), path) {
				t.Errorf("last_error %q does not name %s", st["last_error"], path)
			}
		})
	}
}
