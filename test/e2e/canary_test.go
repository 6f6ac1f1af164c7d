package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestCanaryOrdersOnlyWhenNeeded counts orders at the CA: after one full
// success, renew --now of another certificate orders the canary no more
// while its proof is fresh; a stale proof orders it once; --skip-canary
// never orders it (docs/policy.md, the canary).
func TestCanaryOrdersOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
	w.addCert("canary", "canary: true\n"+listenCert(pb.HTTPPort, "canary.gate.example.com"))
	w.addCert("shop", listenCert(pb.HTTPPort, "shop.gate.example.com"))
	w.mustRenew("renew")
	wantOrders := func(when string, n int) {
		t.Helper()
		if got := proxy.orders(); got != n {
			t.Fatalf("%s: %d new orders at the CA, want %d", when, got, n)
		}
	}
	wantOrders("first issuance", 2)

	for i := range 4 {
		res := w.mustRenew("renew", "--now", "shop")
		if !strings.Contains(res.stdout, "canary: proved the path at") {
			t.Errorf("renew --now shop #%d does not say the canary's proof gates it:\n%s", i+1, res.stdout)
		}
	}
	wantOrders("four renew --now shop", 6)
	if v := versions(t, w.storage, "canary"); len(v) != 1 {
		t.Errorf("canary versions %v, want the first one only", v)
	}

	// 49 hours on, the proof is stale: the canary is ordered once, first.
	res := w.renewdLater(49*time.Hour, "renew", "--now", "shop")
	if res.code != 0 || !strings.Contains(res.stdout, "older than 48h0m0s") {
		t.Fatalf("renew --now shop with a stale proof: %s", res)
	}
	wantOrders("stale proof", 8)
	if i, j := strings.Index(res.stdout, "canary           order"), strings.Index(res.stdout, "shop             order"); i < 0 || j < i {
		t.Errorf("the canary was not ordered before shop:\n%s", res.stdout)
	}

	// --skip-canary with a stale proof again: shop alone.
	res = w.renewdLater(100*time.Hour, "renew", "--now", "--skip-canary", "shop")
	if res.code != 0 {
		t.Fatalf("renew --now --skip-canary shop: %s", res)
	}
	wantOrders("--skip-canary", 9)
	if v := versions(t, w.storage, "canary"); len(v) != 2 {
		t.Errorf("canary versions %v, want two", v)
	}
}

// TestCanaryEmergencyGoesAhead: with 6-day certificates (Pebble's
// shortlived profile) and a broken canary, a due certificate is held, and
// the same certificate in its emergency window (under 24 hours left) is
// renewed anyway, saying why. The clock of the test build moves days
// ahead; nothing waits.
func TestCanaryEmergencyGoesAhead(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	proxy := startProxy(t, pb)
	proxy.noARI.Store(true)
	w := newWorkspace(t, acmeSettings{directory: proxy.dirURL, rootFile: pb.RootFile, profile: "shortlived"})
	w.addCert("canary", "canary: true\n"+listenCert(pb.HTTPPort, "canary.short.example.com"))
	w.addCert("shop", listenCert(pb.HTTPPort, "shop.short.example.com"))
	w.mustRenew("renew")

	// The canary breaks: new names (so it is due) and a webroot that is
	// gone (so it fails before ordering).
	w.addCert("canary", "canary: true\ndomains: [canary2.short.example.com]\nchallenge:\n  type: http-01\n  http01: {webroot: "+
		filepath.Join(w.dir, "gone")+"}\n")

	// 3 days and an hour on, shop is due (half of 6 days): held.
	res := w.renewdLater(73*time.Hour, "renew")
	if res.code != 1 || !strings.Contains(res.stdout, "shop             held") {
		t.Fatalf("shop due behind a failing canary: want it held, exit 1: %s", res)
	}
	if rec := w.state()["shop"]; rec["held_by"] != "canary" || !strings.Contains(fmt.Sprint(rec["held_reason"]), "canary canary failed") {
		t.Errorf("shop's record: held_by %v, held_reason %v", rec["held_by"], rec["held_reason"])
	}
	if n := proxy.orders(); n != 2 {
		t.Fatalf("%d orders, want the 2 first issuances only", n)
	}

	// 5 days and 2 hours on, shop has 22 hours left: it goes ahead.
	res = w.renewdLater(122*time.Hour, "renew")
	if !strings.Contains(res.stdout, "shop             ahead   not held by failing canary canary: in its emergency window") {
		t.Fatalf("shop in its emergency window was not let through: %s", res)
	}
	if !strings.Contains(res.stdout, "shop             done") {
		t.Errorf("shop was not renewed: %s", res)
	}
	if n := proxy.orders(); n != 3 {
		t.Errorf("%d orders, want 3 (shop's renewal)", n)
	}
	rec := w.state()["shop"]
	if rec["went_ahead_of"] != "canary" || rec["held_by"] != nil {
		t.Errorf("shop's record: went_ahead_of %v, held_by %v", rec["went_ahead_of"], rec["held_by"])
	}
}

// nxDNS is a DNS server that knows no name: a resolver on which a TXT
// record never propagates.
func nxDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeNameError)
			_ = w.WriteMsg(m)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// challTXT asks challtestsrv's DNS for the TXT values of name.
func challTXT(name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	in, err := dns.Exchange(m, env.dnsAddr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out, nil
}

// TestSIGTERMDuringDNSPropagation stops the daemon while lego waits for a
// TXT record to propagate (to a resolver that never sees it): the wait
// ends at once, renewd exits 0 well within its stop timeout, the TXT
// record is cleaned up, and nothing is recorded as a failure.
func TestSIGTERMDuringDNSPropagation(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("prop", fmt.Sprintf(`domains: [prop.sigterm.example.com]
challenge:
  type: dns-01
  dns01:
    provider: exec
    env: {EXEC_PATH: %s, EXEC_POLLING_INTERVAL: "1"}
    resolvers: [%q]
    propagation_timeout: 10m
`, dnsScript(t), nxDNS(t)))
	const txt = "_acme-challenge.prop.sigterm.example.com"
	d := w.startDaemon()
	if err := waitFor("the TXT record at challtestsrv", time.Minute, func() error {
		if v, err := challTXT(txt); err != nil || len(v) == 0 {
			return fmt.Errorf("TXT %v, %v", v, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code := d.stop(syscall.SIGTERM, time.Minute); code != 0 {
		t.Errorf("SIGTERM during the propagation wait: exit %d, want 0\n%s", code, d.output())
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("stopping took %s; the propagation wait must end within seconds", took)
	}
	if v, err := challTXT(txt); err != nil || len(v) != 0 {
		t.Errorf("TXT record left behind after the stop: %v, %v", v, err)
	}
	if rec := w.state()["prop"]; rec != nil && rec["retry_count"] != float64(0) {
		t.Errorf("the interrupted order was recorded as a failure: %v", rec)
	}
}

// treeListing describes every path under root without following links:
// mode, size, modification time, link target and a hash of the content.
func treeListing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d %d", path, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			line += " -> " + target
		case fi.Mode().IsRegular():
			line += fmt.Sprintf(" %x", sha256.Sum256(mustRead(t, path)))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestReadOnlyCommandsChangeNothing: status, check NAME and config check
// leave the storage byte for byte and mode for mode as they found it, on
// a storage directory of mode 0750 too, and create no storage that is not
// there.
func TestReadOnlyCommandsChangeNothing(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("shop", listenCert(pb.HTTPPort, "shop.readonly.example.com"))
	w.mustRenew("renew")
	for _, dir := range []string{w.storage, filepath.Join(w.storage, "live")} {
		if err := os.Chmod(dir, 0o750); err != nil { // a monitoring group reads it
			t.Fatal(err)
		}
	}
	before := treeListing(t, w.storage)
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"status", "shop"}, {"check", "shop"}, {"config", "check"}} {
		res := w.renewd(args...)
		if args[0] != "check" && res.code != 0 {
			t.Errorf("renewd %v: %s", args, res)
		}
		if after := treeListing(t, w.storage); !slices.Equal(before, after) {
			t.Fatalf("renewd %v changed the storage:\nbefore:\n%s\nafter:\n%s", args, strings.Join(before, "\n"), strings.Join(after, "\n"))
		}
	}

	// A storage directory that does not exist yet is not created.
	w2 := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w2.addCert("shop", listenCert(pb.HTTPPort, "shop2.readonly.example.com"))
	for _, args := range [][]string{{"status"}, {"config", "check"}} {
		if res := w2.renewd(args...); res.code != 0 {
			t.Errorf("renewd %v without storage: %s", args, res)
		}
		if _, err := os.Lstat(w2.storage); err == nil {
			t.Fatalf("renewd %v created the storage directory", args)
		}
	}
}

// TestKillDuringMigration: the first start of this release moves a
// first-release state.json into state/, one record per certificate. A kill
// in the middle (after the records are written, before state.json is
// renamed) loses nothing: the next start does the migration again, and no
// certificate is ordered again.
func TestKillDuringMigration(t *testing.T) {
	t.Parallel()
	pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
	w.addCert("shop", listenCert(pb.HTTPPort, "shop.migrate.example.com"))
	w.addCert("blog", listenCert(pb.HTTPPort, "blog.migrate.example.com"))
	w.mustRenew("renew")
	orders := proxy.orders()

	// Turn the storage into a first release's: every record in state.json.
	recs := w.state()
	legacy := map[string]any{"version": 1, "certificates": map[string]any{}}
	for name, rec := range recs {
		delete(rec, "schema")
		legacy["certificates"].(map[string]any)[name] = rec
	}
	data, err := json.MarshalIndent(legacy, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(w.storage, "state")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.storage, "state.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}

	if killed, out := w.crashRenew("store-migrated-records", "renew"); !killed {
		t.Fatalf("renewd was not killed in the migration:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(w.storage, "state.json")); err != nil {
		t.Fatalf("state.json is gone after a kill before the migration finished: %v", err)
	}

	res := w.mustRenew("renew")
	if !strings.Contains(res.stdout, "moved 2 record(s) from state.json into state/") {
		t.Errorf("the migration is not said:\n%s", res.stdout)
	}
	if _, err := os.Stat(filepath.Join(w.storage, "state.json.migrated")); err != nil {
		t.Errorf("no state.json.migrated: %v", err)
	}
	if _, err := os.Stat(filepath.Join(w.storage, "state.json")); err == nil {
		t.Error("state.json is still there")
	}
	after := w.state()
	for name, rec := range recs {
		for _, field := range []string{"serial", "version", "not_after", "renew_time", "deployed_version"} {
			if fmt.Sprint(after[name][field]) != fmt.Sprint(rec[field]) {
				t.Errorf("%s.%s = %v after the migration, want %v", name, field, after[name][field], rec[field])
			}
		}
	}
	if n := proxy.orders(); n != orders {
		t.Errorf("%d orders after the migration, want %d: nothing was due", n, orders)
	}
}
