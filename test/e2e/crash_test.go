package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashRenew runs the crash-point build of renewd with RENEWD_CRASH_AT set
// and reports whether it died by SIGKILL (the crash point was reached).
//
// Pebble reuses a valid authorization for about one order in a hundred even
// with PEBBLE_AUTHZREUSE=0; such an order presents no challenge and never
// reaches acme-presented. A run that succeeded without reaching it is
// repeated, at most twice.
func (w *workspace) crashRenew(point string, args ...string) (killed bool, out string) {
	w.t.Helper()
	for try := 1; ; try++ {
		killed, out, ok := w.crashRenewOnce(point, args...)
		if killed || !ok || point != "acme-presented" || try == 3 {
			return killed, out
		}
		w.t.Logf("the run reached no %s (Pebble reused an authorization); running it again", point)
	}
}

func (w *workspace) crashRenewOnce(point string, args ...string) (killed bool, out string, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.renewdCrash, append([]string{"--config", w.config}, args...)...)
	cmd.Env = append(append(os.Environ(), "RENEWD_CONFIG=", "RENEWD_CRASH_AT="+point), w.env...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ProcessState.String() == "signal: killed" {
		return true, b.String(), false
	}
	return false, b.String(), err == nil
}

// TestKillAtEveryStep kills renewd with SIGKILL at each step of a renewal
// that deploys to nginx, then checks the crash-safety invariants (docs/crash-safety.md) after one
// ordinary `renewd renew`: the live version is complete (I1), keys are 0600
// (I2), every record parses (I3), nginx passes nginx -t and serves a complete
// chain (I4), what was stored is deployed without a new order (I5), and no
// manual cleanup was needed (I6). A killed lock holder's lock is free at once.
func TestKillAtEveryStep(t *testing.T) {
	t.Parallel()
	s, _ := deployedSite(t, siteOpts{retry: "{initial: 1ms, max: 1ms}"}, "crash.example.com")
	points := []struct {
		point  string
		stored bool // the new version was stored (and swapped live) before the kill
	}{
		{"acme-presented", false},
		{"renew-ordered", false},
		{"store-wrote-cert.pem", false},
		{"store-wrote-privkey.pem", false},
		{"store-version-committed", false},
		{"renew-stored", true},
		// The first atomic file write of the run: the journal of the
		// challenges an order sets up, before the order (records are
		// written after the deploy). The next run must not be stuck.
		{"atomic-before-rename", false},
		{"deploy-wrote-fullchain", true},
		{"deploy-installed", true},
		{"deploy-reloaded", true},
	}
	for _, p := range points {
		killed, out := s.w.crashRenew(p.point, "renew", "--now")
		if !killed {
			t.Fatalf("%s: renewd was not killed at the crash point:\n%s", p.point, out)
		}
		versionsAfterCrash := versions(t, s.w.storage, "site")

		// One ordinary run, right away: the dead process's lock is free.
		res := s.w.renewd("renew", "--wait", "0s")
		if res.code != 0 {
			t.Fatalf("%s: the run after the crash failed: %s", p.point, res)
		}
		if p.stored && !strings.Contains(res.stdout, "no new order") {
			t.Errorf("%s: the stored version was not deployed from storage:\n%s", p.point, res.stdout)
		}
		if got := versions(t, s.w.storage, "site"); len(got) != len(versionsAfterCrash) {
			t.Errorf("%s: the run after the crash ordered again: %v -> %v", p.point, versionsAfterCrash, got)
		}
		s.w.checkComplete("site", s.domains, 1)             // I1, I2
		if _, err := readRecords(s.w.storage); err != nil { // I3
			t.Fatalf("%s: records: %v", p.point, err)
		}
		if out, err := exec.Command(s.ng.bin, s.ng.argv("-t")[1:]...).CombinedOutput(); err != nil { // I4
			t.Fatalf("%s: nginx -t: %v\n%s", p.point, err, out)
		}
		if served, live := s.servedSerial("crash.example.com"), s.liveSerial(); served != live {
			t.Errorf("%s: nginx serves %s, live is %s", p.point, served, live)
		}
		if !bytes.Equal(mustRead(t, s.fullchain), s.w.live("site", "fullchain.pem")) {
			t.Errorf("%s: the deployed fullchain is not the live one", p.point)
		}
	}
}

// TestKillBeforeLiveSwap: renewd is killed after a due certificate's new
// version is complete in archive/ but before live/ points at it. The next
// run makes that version live and deploys it: no second order (I5).
func TestKillBeforeLiveSwap(t *testing.T) {
	t.Parallel()
	s, _ := deployedSite(t, siteOpts{}, "swap.example.com")
	s.w.mustRenew("renew") // records Pebble's ARI window for the live certificate
	past := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	s.pb.setRenewalInfo(t, s.w.liveLeaf("site"), ariWindowJSON(past, past.Add(time.Hour)))
	s.w.setNextPoll("site", time.Now().Add(-time.Minute)) // due by ARI at the next run
	before := versions(t, s.w.storage, "site")

	if killed, out := s.w.crashRenew("store-version-committed", "renew"); !killed {
		t.Fatalf("renewd was not killed before the live swap:\n%s", out)
	}
	stored := versions(t, s.w.storage, "site")
	if len(stored) != len(before)+1 || s.w.liveTarget("site") != filepath.Join("..", "archive", "site", before[len(before)-1]) {
		t.Fatalf("want a new version in archive/ and live/ unchanged: versions %v -> %v, live %s", before, stored, s.w.liveTarget("site"))
	}

	res := s.w.mustRenew("renew")
	newest := stored[len(stored)-1]
	if !strings.Contains(res.stdout, "stored version "+newest+" was never made live") {
		t.Errorf("the unfinished version was not taken over:\n%s", res.stdout)
	}
	if got := versions(t, s.w.storage, "site"); len(got) != len(stored) {
		t.Errorf("the run after the kill ordered again: %v -> %v", stored, got)
	}
	if got := s.w.liveTarget("site"); got != filepath.Join("..", "archive", "site", newest) {
		t.Errorf("live/site -> %s, want the stored version %s", got, newest)
	}
	s.w.checkComplete("site", s.domains, 1)
	if served := s.servedSerial("swap.example.com"); served != s.liveSerial() {
		t.Errorf("nginx serves %s, live is %s", served, s.liveSerial())
	}
}

// TestSIGTERMMidDeploy stops the daemon with SIGTERM in the middle of a
// deploy to nginx: after installing the files, and after the reload
// before the served chain is checked. The daemon exits 0 within its stop
// bound, puts the previous files back (reloading nginx onto them when it
// had reloaded), records no failure, and the next run deploys the stored
// certificate without a new order.
func TestSIGTERMMidDeploy(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"deploy-installed", "deploy-reloaded"} {
		t.Run(point, func(t *testing.T) {
			domain := "term-" + strings.TrimPrefix(point, "deploy-") + ".example.com"
			s, old := deployedSite(t, siteOpts{}, domain)
			cert := filepath.Join(s.w.domains, "site.yaml")
			plain := string(mustRead(t, cert))
			s.w.addCert("site", plain+"renew_before: 2400h\n") // due at once, for the daemon's first pass
			deployed := mustRead(t, s.fullchain)

			marker := filepath.Join(t.TempDir(), "paused")
			cmd := exec.Command(env.renewdCrash, "--config", s.w.config, "run")
			cmd.Env = append(os.Environ(), "RENEWD_CONFIG=", "NOTIFY_SOCKET=", "RENEWD_PAUSE_AT="+point, "RENEWD_PAUSE_FILE="+marker)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &lockedWriter{w: &out}, nil
			cmd.Stderr = cmd.Stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			if err := waitFor("the daemon paused at "+point, 90*time.Second, func() error {
				_, err := os.Stat(marker)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("SIGTERM mid-deploy: %v\n%s", err, out.String())
				}
			case <-time.After(2 * time.Minute):
				t.Fatalf("the daemon did not stop after SIGTERM\n%s", out.String())
			}

			// The previous certificate is served and installed; nginx -t passes.
			if out, err := exec.Command(s.ng.bin, s.ng.argv("-t")[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("nginx -t: %v\n%s", err, out)
			}
			// nginx's workers switch over asynchronously after the reload
			// back onto the previous files.
			if err := waitFor("nginx serving the previous certificate", 30*time.Second, func() error {
				if got := s.servedSerial(domain); got != old {
					return fmt.Errorf("nginx serves %s, want the previous %s", got, old)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
			if !bytes.Equal(mustRead(t, s.fullchain), deployed) {
				t.Error("the previous fullchain was not put back")
			}
			st := s.w.state()["site"]
			if st["retry_count"] != float64(0) || st["deployed_version"] == st["version"] {
				t.Errorf("after the interrupted deploy: retry_count %v, deployed %v, version %v; want no failure and a deploy pending",
					st["retry_count"], st["deployed_version"], st["version"])
			}

			// No cleanup by hand: the next run deploys what was stored.
			stored := versions(t, s.w.storage, "site")
			s.w.addCert("site", plain)
			res := s.w.mustRenew("renew")
			if !strings.Contains(res.stdout, "no new order") {
				t.Errorf("the stored certificate was not deployed from storage:\n%s", res.stdout)
			}
			if got := versions(t, s.w.storage, "site"); len(got) != len(stored) {
				t.Errorf("the run after SIGTERM ordered again: %v -> %v", stored, got)
			}
			if served := s.servedSerial(domain); served != s.liveSerial() {
				t.Errorf("nginx serves %s, live is %s", served, s.liveSerial())
			}
		})
	}
}
