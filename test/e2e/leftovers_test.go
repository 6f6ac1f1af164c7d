package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestKilledOrderLeftoversCleaned: renewd killed while its challenges are
// set up leaves a token file in the webroot and a TXT record at the DNS
// provider; the certificate's next order removes both before it sets up
// its own, and nothing is left after it.
func TestKilledOrderLeftoversCleaned(t *testing.T) {
	t.Parallel()
	t.Run("http-01 webroot", func(t *testing.T) {
		t.Parallel()
		s := newSite(t, siteOpts{}, "leftover.http.example.com")
		tokens := filepath.Join(s.webroot, ".well-known", "acme-challenge")
		if killed, out := s.w.crashRenew("acme-presented", "renew", "--now"); !killed {
			t.Fatalf("renewd was not killed with its challenge set up:\n%s", out)
		}
		left, _ := filepath.Glob(filepath.Join(tokens, "*"))
		if len(left) == 0 {
			t.Fatal("the killed order left no token file: the test proves nothing")
		}
		s.w.mustRenew("renew", "--now")
		if after, _ := filepath.Glob(filepath.Join(tokens, "*")); len(after) != 0 {
			t.Errorf("token files left in the webroot after the next order: %v (the killed run's were %v)", after, left)
		}
	})
	t.Run("dns-01", func(t *testing.T) {
		t.Parallel()
		pb := startPebble(t, pebbleOpts{})
		w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
		calls := filepath.Join(t.TempDir(), "calls")
		script := filepath.Join(t.TempDir(), "dns.sh")
		writeScript(t, script, fmt.Sprintf("echo \"$1 $2 $3\" >> %s\nexec %s \"$@\"\n", calls, dnsScript(t)))
		w.addCert("wild", fmt.Sprintf(`domains: ["*.leftover.example.com"]
challenge:
  type: dns-01
  dns01:
    provider: exec
    env: {EXEC_PATH: %s, EXEC_POLLING_INTERVAL: "1", EXEC_SEQUENCE_INTERVAL: "1"}
    resolvers: [%q]
    propagation_timeout: 30s
`, script, env.dnsAddr))
		if killed, out := w.crashRenew("acme-presented", "renew", "--now"); !killed {
			t.Fatalf("renewd was not killed with its challenge set up:\n%s", out)
		}
		w.mustRenew("renew", "--now")
		// Every record set (the killed run's and the next one's) was
		// removed again, the killed run's before the next was set.
		var set, removed, kinds []string
		for _, l := range strings.Split(strings.TrimSpace(string(mustRead(t, calls))), "\n") {
			f := strings.Fields(l)
			if len(f) != 3 {
				t.Fatalf("bad script call %q", l)
			}
			kinds = append(kinds, f[0])
			switch f[0] {
			case "present":
				set = append(set, f[1]+" "+f[2])
			case "cleanup":
				removed = append(removed, f[1]+" "+f[2])
			}
		}
		if len(set) != 2 || !slices.Equal(set, removed) || !slices.Equal(kinds, []string{"present", "cleanup", "present", "cleanup"}) {
			t.Errorf("calls %q: records set %q, removed %q; want the two set, each removed, the killed run's before the next is set", kinds, set, removed)
		}
		pending, _ := filepath.Glob(filepath.Join(w.storage, "accounts", "*", "pending", "*"))
		if len(pending) != 0 {
			t.Errorf("records of pending challenges left: %v", pending)
		}
	})
}
