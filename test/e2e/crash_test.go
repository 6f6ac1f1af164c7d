package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crashRenew runs the crash-point build of renewd with RENEWD_CRASH_AT set
// and reports whether it died by SIGKILL (the crash point was reached).
func (w *workspace) crashRenew(point string, args ...string) (killed bool, out string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.renewdCrash, append([]string{"--config", w.config}, args...)...)
	cmd.Env = append(append(os.Environ(), "RENEWD_CONFIG=", "RENEWD_CRASH_AT="+point), w.env...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ProcessState.String() == "signal: killed" {
		return true, b.String()
	}
	return false, b.String()
}

// TestKillAtEveryStep kills renewd with SIGKILL at each step of a renewal
// that deploys to nginx, then checks FAULTS.md's invariants after one
// ordinary `renewd renew`: the live version is complete (I1), keys are 0600
// (I2), state.json parses (I3), nginx passes nginx -t and serves a complete
// chain (I4), what was stored is deployed without a new order (I5), and no
// manual cleanup was needed (I6). A killed lock holder's lock is free at once.
func TestKillAtEveryStep(t *testing.T) {
	t.Parallel()
	s, _ := deployedSite(t, siteOpts{retry: "{initial: 1ms, max: 1ms}"}, "crash.example.com")
	points := []struct {
		point  string
		stored bool // the new version was stored (and swapped live) before the kill
	}{
		{"renew-ordered", false},
		{"store-wrote-cert.pem", false},
		{"store-wrote-privkey.pem", false},
		{"store-version-committed", false},
		{"renew-stored", true},
		// The first atomic file write of the run: state.json (after ARI
		// polling or after storing, whichever comes first). Either way the
		// next run must not order again.
		{"atomic-before-rename", false},
		{"renew-recorded", true},
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
		s.w.checkComplete("site", s.domains, 1) // I1, I2
		var st map[string]any                   // I3
		if err := json.Unmarshal(mustRead(t, filepath.Join(s.w.storage, "state.json")), &st); err != nil {
			t.Fatalf("%s: state.json: %v", p.point, err)
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
