package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLeafOnlyAnswer is the failure renewd exists for: the CA (here the
// proxy) answers with the leaf alone. renewd must refuse it, keep the
// previous complete version live, and record the failure for a retry.
func TestLeafOnlyAnswer(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	proxy := startProxy(t, pb)
	w := newWorkspace(t, acmeSettings{directory: proxy.dirURL, rootFile: pb.RootFile})
	w.addCert("shop", listenCert(pb.HTTPPort, "leafonly.example.com"))

	w.mustRenew("renew", "--now")
	w.checkComplete("shop", []string{"leafonly.example.com"}, 1)
	oldTarget, oldFull := w.liveTarget("shop"), w.live("shop", "fullchain.pem")

	proxy.setMode(leafOnly)
	res := w.renewd("renew", "--now")
	if res.code != 1 {
		t.Fatalf("leaf-only answer: want exit 1, got %s", res)
	}
	if !strings.Contains(res.stdout+res.stderr, "chain incomplete") {
		t.Errorf("the failure does not say the chain is incomplete:\n%s", res)
	}
	if proxy.certs.Load() < 2 {
		t.Fatalf("the second run never downloaded a certificate (%d downloads): the fault was not exercised", proxy.certs.Load())
	}
	if got := w.liveTarget("shop"); got != oldTarget {
		t.Errorf("live moved from %s to %s after a leaf-only answer", oldTarget, got)
	}
	if !bytes.Equal(w.live("shop", "fullchain.pem"), oldFull) {
		t.Error("live fullchain changed after a leaf-only answer")
	}
	if v := versions(t, w.storage, "shop"); len(v) != 1 {
		t.Errorf("a leaf-only answer was archived: versions %v", v)
	}
	w.checkComplete("shop", []string{"leafonly.example.com"}, 1)
	st := w.state()["shop"]
	if st["retry_count"] != float64(1) || st["next_retry_time"] == nil || !strings.Contains(fmt.Sprint(st["last_error"]), "chain incomplete") {
		t.Errorf("state after the failure: retry_count=%v next_retry_time=%v last_error=%v", st["retry_count"], st["next_retry_time"], st["last_error"])
	}

	// A plain renew respects next_retry_time: nothing is ordered.
	before := proxy.certs.Load()
	res = w.mustRenew("renew")
	if proxy.certs.Load() != before || !strings.Contains(res.stdout, "waiting for retry") {
		t.Errorf("renew before next_retry_time ordered anyway or did not say why:\n%s", res)
	}

	// The CA recovers: the next forced renewal succeeds and resets the retry fields.
	proxy.setMode(passThrough)
	w.mustRenew("renew", "--now")
	w.checkComplete("shop", []string{"leafonly.example.com"}, 1)
	if st := w.state()["shop"]; st["retry_count"] != float64(0) || st["next_retry_time"] != nil || st["last_error"] != nil {
		t.Errorf("retry fields not reset after success: %v", st)
	}
}

// TestCADown records a failure with a retry time when the CA cannot be reached.
func TestCADown(t *testing.T) {
	t.Parallel()
	w := newWorkspace(t, acmeSettings{directory: fmt.Sprintf("https://127.0.0.1:%d/dir", freePort(t)), rootFile: env.tlsCAFile})
	w.addCert("down", listenCert(freePort(t), "down.example.com"))
	res := w.renewd("renew", "--now")
	if res.code != 1 || !strings.Contains(res.stderr, "failed") || !strings.Contains(res.stderr, "connection refused") {
		t.Fatalf("CA down: want exit 1 naming the refused connection, got %s", res)
	}
	st := w.state()["down"]
	if st["retry_count"] != float64(1) || st["next_retry_time"] == nil {
		t.Errorf("state after CA down: %v", st)
	}
	if _, err := os.Lstat(filepath.Join(w.storage, "live", "down")); !os.IsNotExist(err) {
		t.Errorf("live/down exists after a failure: %v", err)
	}
	// The retry grows on the next failure.
	w.renewd("renew", "--now")
	if st := w.state()["down"]; st["retry_count"] != float64(2) {
		t.Errorf("retry_count after a second failure = %v, want 2", st["retry_count"])
	}
}

// TestBadInput checks that mistakes a person makes get exit 2 and a
// message naming the file, line and field, before anything touches a CA.
func TestBadInput(t *testing.T) {
	t.Parallel()
	dead := fmt.Sprintf("https://127.0.0.1:%d/dir", freePort(t))
	cases := []struct {
		desc   string
		global string // replaces renewd.yaml when set
		certs  map[string]string
		args   []string
		want   []string // substrings of stderr
	}{
		{desc: "malformed YAML", certs: map[string]string{"a": "domains: [a.example.com\nchallenge: {type: http-01}\n"},
			args: []string{"renew", "--now"}, want: []string{"a.yaml:"}},
		{desc: "unknown key", certs: map[string]string{"a": listenCert(8402, "a.example.com") + "colour: blue\n"},
			args: []string{"renew", "--now"}, want: []string{"a.yaml:5", "colour", "valid"}},
		{desc: "IP as domain", certs: map[string]string{"a": listenCert(8402, "192.0.2.1")},
			args: []string{"config", "check"}, want: []string{"a.yaml:1", "domains"}},
		{desc: "localhost", certs: map[string]string{"a": listenCert(8402, "localhost")},
			args: []string{"config", "check"}, want: []string{"a.yaml:1", "localhost"}},
		{desc: "wildcard with http-01", certs: map[string]string{"a": listenCert(8402, `"*.a.example.com"`)},
			args: []string{"config", "check"}, want: []string{"a.yaml:", "dns-01"}},
		{desc: "hostile name", certs: map[string]string{"a": "name: ../x\n" + listenCert(8402, "a.example.com")},
			args: []string{"config", "check"}, want: []string{"a.yaml:1", "name"}},
		{desc: "overlapping domains", certs: map[string]string{"a": listenCert(8402, "a.example.com"), "b": listenCert(8402, "a.example.com")},
			args: []string{"config", "check"}, want: []string{"a.yaml", "b.yaml", "a.example.com"}},
		{desc: "unknown DNS provider", certs: map[string]string{"a": "domains: [a.example.com]\nchallenge:\n  type: dns-01\n  dns01: {provider: nosuchdns}\n"},
			args: []string{"config", "check"}, want: []string{"a.yaml:4", "challenge.dns01.provider", "nosuchdns"}},
		{desc: "missing DNS credentials", certs: map[string]string{"a": "domains: [a.example.com]\nchallenge:\n  type: dns-01\n  dns01: {provider: alidns}\n"},
			args: []string{"config", "check"}, want: []string{"a.yaml:", "ALICLOUD"}},
		{desc: "unknown certificate name", certs: map[string]string{"a": listenCert(8402, "a.example.com")},
			args: []string{"renew", "--now", "nosuch"}, want: []string{`"nosuch"`}},
		{desc: "unwritable storage", global: "storage: /proc/renewd-cannot-be-here\nacme: {directory: " + dead + "}\n",
			certs: map[string]string{"a": listenCert(8402, "a.example.com")},
			args:  []string{"renew", "--now"}, want: []string{"storage", "/proc/renewd-cannot-be-here"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			w := newWorkspace(t, acmeSettings{directory: dead, rootFile: env.tlsCAFile})
			if tc.global != "" {
				w.writeGlobal(tc.global)
			}
			for name, y := range tc.certs {
				w.addCert(name, y)
			}
			res := w.renewd(tc.args...)
			if res.code != 2 {
				t.Fatalf("want exit 2, got %s", res)
			}
			for _, s := range tc.want {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, res.stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(w.storage, "accounts")); err == nil && tc.global == "" {
				if entries, _ := os.ReadDir(filepath.Join(w.storage, "accounts")); len(entries) > 0 {
					t.Errorf("an ACME account was created despite bad input")
				}
			}
		})
	}
}

// TestSecretsStayOutOfLogs runs failing DNS-01 renewals at debug level
// and greps everything renewd printed, the records and `renewd status`:
// one with a credential in the env map, one whose lego exec script prints
// credentials (one it was configured with, as a DNS API echoing its token
// would, and one renewd has in its process environment, as from systemd's
// EnvironmentFile) and exits 1.
func TestSecretsStayOutOfLogs(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-T0KEN-never-logged"
	const mapToken = "map-T0KEN-from-the-yaml"
	const envToken = "env-T0KEN-from-the-process"
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.env = []string{"RENEWD_E2E_TOKEN=" + secret, "RENEWD_E2E_MAP_TOKEN=" + mapToken, "ALICLOUD_SECRET_KEY=" + envToken}
	w.addCert("sec", `domains: [sec.example.com]
challenge:
  type: dns-01
  dns01:
    provider: exec
    env: {EXEC_PATH: /bin/false, EXEC_MODE: "${RENEWD_E2E_TOKEN}"}
`)
	script := filepath.Join(t.TempDir(), "leaky-dns.sh")
	body := "#!/bin/sh\necho \"API refused token " + mapToken + "\" >&2\necho \"and key $ALICLOUD_SECRET_KEY\"\nexit 1\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	w.addCert("leaky", fmt.Sprintf(`domains: [leaky.example.com]
challenge:
  type: dns-01
  dns01:
    provider: exec
    env: {EXEC_PATH: %s, EXEC_SEQUENCE_INTERVAL: "1", DNS_API_TOKEN: "${RENEWD_E2E_MAP_TOKEN}"}
`, script))
	res := w.renewd("--log-level", "debug", "renew", "--now")
	if res.code != 1 || !strings.Contains(res.stderr, "exec") { // the failed line is on stderr
		t.Fatalf("want the DNS-01 scripts to fail the renewals, got %s", res)
	}
	if !strings.Contains(res.stderr, "API refused token ********") {
		t.Errorf("the exec script's output is not in the debug log, masked:\n%s", res.stderr)
	}
	out := res.stdout + res.stderr
	for _, args := range [][]string{{"config", "check"}, {"status", "--json"}} {
		res := w.renewd(args...)
		out += res.stdout + res.stderr
	}
	data := w.stateBytes()
	for _, s := range []string{secret, mapToken, envToken} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q was printed:\n%s", s, out)
		}
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("secret %q reached a record:\n%s", s, data)
		}
	}
	if !strings.Contains(out, "********") {
		t.Errorf("config check did not show the masked value:\n%s", out)
	}
}
