package e2e

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CA faults Pebble cannot make, made by the rewriting proxy (proxy_test.go),
// each run through the real binary with `renewd renew --now`. After every
// fault renewd must exit 1 with one recorded failure (retry_count 1,
// next_retry_time set, never before the CA's Retry-After), leave live/ as it
// was, finish within a bound, and print no key material.

// retrySettings is the backoff every test here configures: the first retry
// comes 4m30s to 5m after a failure (jitter only shortens).
const (
	retrySettings = "{initial: 5m, max: 24h}"
	firstBackoff  = 5 * time.Minute
)

// timedRun is one renewd run and when it started and ended.
type timedRun struct {
	result
	start, end time.Time
}

func (r timedRun) took() time.Duration { return r.end.Sub(r.start) }

// renewdWithin runs renewd with w's config and fails the test unless it
// finishes within bound: a fault must end a run, never stall it.
func renewdWithin(t *testing.T, w *workspace, bound time.Duration, args ...string) timedRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.renewd, append([]string{"--config", w.config}, args...)...)
	cmd.Env = append(append(os.Environ(), "RENEWD_CONFIG="), w.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	run := timedRun{start: time.Now()}
	err := cmd.Run()
	run.end = time.Now()
	run.stdout, run.stderr = out.String(), errb.String()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("renewd %v did not finish within %s; killed:\n%s", args, bound, run.result)
	case err == nil:
	case errors.As(err, &ee):
		run.code = ee.ExitCode()
	default:
		t.Fatalf("run renewd: %v", err)
	}
	t.Logf("renewd %v: exit %d after %s", args, run.code, run.took().Round(time.Millisecond))
	return run
}

// liveSnapshot is live/<name> before a fault: its link target and
// fullchain, and the archived versions. Zero when nothing was stored.
type liveSnapshot struct {
	target    string
	fullchain []byte
	versions  []string
}

func snapshotLive(t *testing.T, w *workspace, name string) liveSnapshot {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(w.storage, "live", name)); errors.Is(err, fs.ErrNotExist) {
		return liveSnapshot{}
	}
	return liveSnapshot{target: w.liveTarget(name), fullchain: w.live(name, "fullchain.pem"), versions: versions(t, w.storage, name)}
}

// checkLiveUnchanged asserts that a failed run stored nothing for name and
// left its live version (if any) as it was, complete.
func checkLiveUnchanged(t *testing.T, w *workspace, name string, before liveSnapshot, domains []string) {
	t.Helper()
	if before.target == "" {
		if _, err := os.Lstat(filepath.Join(w.storage, "live", name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("live/%s exists after a failed first order (%v)", name, err)
		}
		if entries, _ := os.ReadDir(filepath.Join(w.storage, "archive", name)); len(entries) != 0 {
			t.Errorf("archive/%s holds %d entries after a failed first order", name, len(entries))
		}
		return
	}
	if got := w.liveTarget(name); got != before.target {
		t.Errorf("live/%s moved from %s to %s", name, before.target, got)
	}
	if !bytes.Equal(w.live(name, "fullchain.pem"), before.fullchain) {
		t.Errorf("live/%s/fullchain.pem changed", name)
	}
	if got := versions(t, w.storage, name); len(got) != len(before.versions) {
		t.Errorf("versions of %s went from %v to %v: the CA's answer was stored", name, before.versions, got)
	}
	w.checkComplete(name, domains, 1)
}

// checkFailedOnce asserts the contract for a failed run: exit 1, one
// recorded failure with a retry time after run.start and an error that
// contains every one of want. It returns the next_retry_time.
func checkFailedOnce(t *testing.T, w *workspace, name string, run timedRun, want ...string) time.Time {
	t.Helper()
	if run.code != 1 {
		t.Fatalf("want exit 1, got %s", run.result)
	}
	rec := w.state()[name]
	if rec == nil {
		t.Fatalf("no record for %s after a failure", name)
	}
	if rec["retry_count"] != float64(1) {
		t.Errorf("retry_count = %v, want 1: one failure, recorded once", rec["retry_count"])
	}
	next, err := time.Parse(time.RFC3339, fmt.Sprint(rec["next_retry_time"]))
	if err != nil {
		t.Fatalf("next_retry_time %v: %v", rec["next_retry_time"], err)
	}
	if !next.After(run.start) {
		t.Errorf("next_retry_time %s is not after the run started (%s)", next, run.start)
	}
	lastErr := fmt.Sprint(rec["last_error"])
	t.Logf("last_error: %s", lastErr)
	for _, s := range want {
		if !strings.Contains(lastErr, s) {
			t.Errorf("last_error lacks %q: %s", s, lastErr)
		}
	}
	if !strings.Contains(run.stdout, name) || !strings.Contains(run.stdout, "failed") {
		t.Errorf("the output does not say %s failed:\n%s", name, run.result)
	}
	checkNoKeyMaterial(t, w, run.result)
	return next
}

// checkBackoff asserts next is the configured first backoff after the run:
// what a failure without a usable Retry-After gets.
func checkBackoff(t *testing.T, run timedRun, next time.Time) {
	t.Helper()
	lo := run.start.Add(firstBackoff * 9 / 10).Add(-time.Second)
	hi := run.end.Add(firstBackoff)
	if next.Before(lo) || next.After(hi) {
		t.Errorf("next_retry_time %s, want the first backoff (%s to %s)", next, lo.Format(time.RFC3339), hi.Format(time.RFC3339))
	}
}

// checkNoKeyMaterial asserts renewd printed no private key: no PEM key
// header and no line of any key renewd keeps (account and certificates).
func checkNoKeyMaterial(t *testing.T, w *workspace, res result) {
	t.Helper()
	out := res.stdout + res.stderr
	if strings.Contains(out, "PRIVATE KEY") {
		t.Fatalf("renewd printed a private key:\n%s", res)
	}
	_ = filepath.WalkDir(w.storage, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".key") && !strings.HasSuffix(path, "privkey.pem") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("read %s: %v", path, err)
			return nil
		}
		for rest := data; ; {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			if enc := pem.EncodeToMemory(&pem.Block{Type: "K", Bytes: block.Bytes}); len(enc) > 0 {
				line := strings.Split(string(enc), "\n")[1]
				if len(line) >= 32 && strings.Contains(out, line) {
					t.Errorf("renewd printed the key in %s", path)
				}
			}
		}
		return nil
	})
	if bytes.Contains(w.stateBytes(), []byte("PRIVATE KEY")) {
		t.Error("a record holds a private key")
	}
}

// proxiedWorkspace starts Pebble with o, the proxy in front of it and a
// workspace whose CA is the proxy.
//
// The proxy hides ARI. Pebble 2.10.1 files orders under the hex of the
// serial's minimal bytes but looks a "replaces" CertID up by its DER integer
// bytes, which carry a leading 00 when the top bit is set: for about one
// certificate in 500 (a 7-byte serial from 0x80...), every replacing order
// gets a 500 from Pebble itself, a failure that is not the fault under test.
func proxiedWorkspace(t *testing.T, o pebbleOpts) (*pebble, *caProxy, *workspace) {
	t.Helper()
	pb := startPebble(t, o)
	proxy := startProxy(t, pb)
	proxy.noARI.Store(true)
	w := newWorkspace(t, acmeSettings{directory: proxy.dirURL, rootFile: pb.RootFile, retry: retrySettings})
	return pb, proxy, w
}

// TestCARateLimited answers the new order with 429 rateLimited and a
// Retry-After in each form a CA may send. renewd must ask once, not hammer
// the CA, and not come back before it was told to; a garbled Retry-After
// falls back to the normal backoff.
func TestCARateLimited(t *testing.T) {
	t.Parallel()
	inThreeHours := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	cases := []struct {
		desc       string
		retryAfter string
		// wantAt is the earliest next_retry_time, from the run's start;
		// nil: the normal backoff.
		wantAt func(start time.Time) time.Time
	}{
		{desc: "seconds", retryAfter: "7200",
			wantAt: func(start time.Time) time.Time { return start.Add(7200 * time.Second) }},
		{desc: "HTTP date", retryAfter: inThreeHours.Format(http.TimeFormat),
			wantAt: func(time.Time) time.Time { return inThreeHours }},
		{desc: "garbage", retryAfter: "soon, maybe"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
			domains := []string{"limited.example.com"}
			w.addCert("shop", listenCert(pb.HTTPPort, domains...))
			w.mustRenew("renew", "--now")
			before := snapshotLive(t, w, "shop")

			proxy.set(proxyFault{mode: caRateLimited, retryAfter: tc.retryAfter})
			orders := proxy.count(pebbleNewOrder)
			run := renewdWithin(t, w, time.Minute, "renew", "--now")
			next := checkFailedOnce(t, w, "shop", run, "rateLimited")
			if n := proxy.count(pebbleNewOrder) - orders; n != 1 || proxy.faulted.Load() != 1 {
				t.Errorf("renewd sent %d new orders (%d refused): want exactly one", n, proxy.faulted.Load())
			}
			if tc.wantAt == nil {
				checkBackoff(t, run, next)
			} else {
				want := tc.wantAt(run.start).Truncate(time.Second)
				if next.Before(want) {
					t.Errorf("next_retry_time %s is before the CA's Retry-After %q (%s)", next, tc.retryAfter, want)
				}
				if next.After(tc.wantAt(run.end).Add(time.Second)) {
					t.Errorf("next_retry_time %s is later than the CA's Retry-After %q asked", next, tc.retryAfter)
				}
			}
			checkLiveUnchanged(t, w, "shop", before, domains)

			// A scheduled run leaves the CA alone until next_retry_time.
			res := w.mustRenew("renew")
			if proxy.count(pebbleNewOrder)-orders != 1 || !strings.Contains(res.stdout, "waiting for retry") {
				t.Errorf("renew before next_retry_time ordered again or did not say why:\n%s", res)
			}
		})
	}
}

// TestCAUnavailable answers 503 with a Retry-After, on every request (the CA
// is down, directory included) or on the new order only. lego turns a 503
// into a plain problem document and drops the header: renewd must still
// honour it.
func TestCAUnavailable(t *testing.T) {
	t.Parallel()
	inTwoHours := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	cases := []struct {
		desc       string
		path       string
		retryAfter string
		wantAt     func(start time.Time) time.Time
		issueFirst bool
	}{
		{desc: "every request", path: pebbleAny, retryAfter: "3600",
			wantAt: func(start time.Time) time.Time { return start.Add(time.Hour) }},
		{desc: "new order", path: pebbleNewOrder, retryAfter: inTwoHours.Format(http.TimeFormat),
			wantAt: func(time.Time) time.Time { return inTwoHours }, issueFirst: true},
		{desc: "new order garbage Retry-After", path: pebbleNewOrder, retryAfter: "-1", issueFirst: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
			domains := []string{"maintenance.example.com"}
			w.addCert("shop", listenCert(pb.HTTPPort, domains...))
			if tc.issueFirst {
				w.mustRenew("renew", "--now")
			}
			before := snapshotLive(t, w, "shop")

			proxy.set(proxyFault{mode: caUnavailable, path: tc.path, retryAfter: tc.retryAfter})
			run := renewdWithin(t, w, time.Minute, "renew", "--now")
			next := checkFailedOnce(t, w, "shop", run, "503")
			if proxy.faulted.Load() != 1 {
				t.Errorf("the CA answered 503 %d times: want one request, no retries", proxy.faulted.Load())
			}
			if tc.wantAt == nil {
				checkBackoff(t, run, next)
			} else if want := tc.wantAt(run.start).Truncate(time.Second); next.Before(want) {
				t.Errorf("next_retry_time %s is before the CA's Retry-After %q (%s)", next, tc.retryAfter, want)
			}
			checkLiveUnchanged(t, w, "shop", before, domains)
		})
	}
}

// TestCAHangs holds the new order until renewd gives up: its own timeout,
// not the test's, must end the request and the run, with one failure.
func TestCAHangs(t *testing.T) {
	t.Parallel()
	pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
	domains := []string{"hang.example.com"}
	w.addCert("shop", listenCert(pb.HTTPPort, domains...))
	w.mustRenew("renew", "--now")
	before := snapshotLive(t, w, "shop")

	proxy.setMode(caHang)
	// renewd waits 30s for the CA's response headers; generous margin.
	run := renewdWithin(t, w, 2*time.Minute, "renew", "--now")
	next := checkFailedOnce(t, w, "shop", run, "timeout")
	// The proxy hears of the abandoned request when the closed connection
	// reaches its handler, which a busy machine may schedule after renewd
	// has exited.
	_ = waitFor("the proxy to see the hung request abandoned", 10*time.Second, func() error {
		if proxy.gaveUp.Load() == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	if proxy.faulted.Load() != 1 || proxy.gaveUp.Load() != 1 {
		t.Errorf("%d requests hung, %d abandoned by renewd: want 1 and 1", proxy.faulted.Load(), proxy.gaveUp.Load())
	}
	if run.took() > 90*time.Second {
		t.Errorf("a hung CA kept the run going for %s", run.took())
	}
	checkBackoff(t, run, next)
	checkLiveUnchanged(t, w, "shop", before, domains)
}

// TestCASlowPoll has the CA answer the challenge with "Retry-After: 86400":
// lego would wait a day (on a context nobody can cancel) before polling
// the authorization. renewd caps the poll interval, so the renewal goes
// through in seconds.
func TestCASlowPoll(t *testing.T) {
	t.Parallel()
	pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
	domains := []string{"slowpoll.example.com"}
	w.addCert("shop", listenCert(pb.HTTPPort, domains...))
	proxy.set(proxyFault{mode: slowPoll, retryAfter: "86400"})
	run := renewdWithin(t, w, 2*time.Minute, "renew", "--now")
	if run.code != 0 {
		t.Fatalf("want the renewal to succeed, got %s", run.result)
	}
	if proxy.faulted.Load() < 1 {
		t.Fatal("no challenge answer carried the Retry-After: the fault was not exercised")
	}
	// lego waits the (capped) interval, randomised by half, before it
	// polls the authorization: the cap was used, not skipped.
	if run.took() < 4*time.Second {
		t.Errorf("the renewal took %s: the challenge answer's Retry-After was never waited for", run.took())
	}
	if run.took() > time.Minute {
		t.Errorf("the renewal took %s: the CA's poll interval was not capped", run.took())
	}
	w.checkComplete("shop", domains, 1)
	checkNoKeyMaterial(t, w, run.result)
}

// TestCABadCertificateAnswer answers the certificate download with
// something that is not the complete chain renewd asked for. Nothing may be
// stored; the previous version stays live.
func TestCABadCertificateAnswer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		desc  string
		fault func(t *testing.T, w *workspace, pb *pebble, proxy *caProxy) proxyFault
		want  []string // in last_error
		bound time.Duration
	}{
		{desc: "not PEM", want: []string{"certificate answer"}, bound: time.Minute,
			fault: func(*testing.T, *workspace, *pebble, *caProxy) proxyFault { return proxyFault{mode: garbageCert} }},
		{desc: "broken PEM", want: []string{"certificate answer"}, bound: time.Minute,
			fault: func(*testing.T, *workspace, *pebble, *caProxy) proxyFault {
				return proxyFault{mode: garbageCert, body: []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")}
			}},
		// lego reads at most 1 MiB, then polls the order until its
		// 90-second certificate timeout, downloading again each time.
		{desc: "huge", want: []string{"too large"}, bound: 3 * time.Minute,
			fault: func(*testing.T, *workspace, *pebble, *caProxy) proxyFault { return proxyFault{mode: hugeCert} }},
		// Pebble signs only what an order's CSR asks for, and checks the
		// CSR's signature: a certificate with names renewd did not request
		// can only be one Pebble issued for another order. Its key is not
		// the new one either; renewd must refuse it either way.
		{desc: "another order's chain", want: []string{"other.example.com"}, bound: time.Minute,
			fault: func(t *testing.T, w *workspace, pb *pebble, proxy *caProxy) proxyFault {
				w.addCert("other", listenCert(pb.HTTPPort, "other.example.com"))
				w.mustRenew("renew", "--now", "other")
				w.checkComplete("other", []string{"other.example.com"}, 1)
				foreign := proxy.lastCertificate()
				if !bytes.Equal(foreign, w.live("other", "fullchain.pem")) {
					t.Fatalf("the proxy did not capture other's chain:\n%s", foreign)
				}
				return proxyFault{mode: foreignCert, body: foreign}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
			domains := []string{"shop.example.com", "www.shop.example.com"}
			w.addCert("shop", listenCert(pb.HTTPPort, domains...))
			w.mustRenew("renew", "--now", "shop")
			before := snapshotLive(t, w, "shop")

			proxy.set(tc.fault(t, w, pb, proxy))
			downloads := proxy.certs.Load()
			run := renewdWithin(t, w, tc.bound, "renew", "--now", "shop")
			checkFailedOnce(t, w, "shop", run, tc.want...)
			if proxy.certs.Load() == downloads || proxy.faulted.Load() == 0 {
				t.Fatal("renewd never downloaded the bad answer: the fault was not exercised")
			}
			checkLiveUnchanged(t, w, "shop", before, domains)
			if _, err := os.Lstat(filepath.Join(w.storage, "live", "other")); err == nil {
				w.checkComplete("other", []string{"other.example.com"}, 1)
			}
		})
	}
}

// TestCAUnsafeToken puts a path in the challenge token. renewd must refuse
// it before anything is written (webroot) or served (listen), and never ask
// the CA to validate.
func TestCAUnsafeToken(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"../../etc/x", "../../../../renewd-escaped"} {
		for _, mode := range []string{"webroot", "listen"} {
			t.Run(mode+" "+token, func(t *testing.T) {
				t.Parallel()
				pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
				base := t.TempDir()
				webroot := filepath.Join(base, "srv", "www", "html")
				if err := os.MkdirAll(webroot, 0o755); err != nil {
					t.Fatal(err)
				}
				if mode == "webroot" {
					w.addCert("site", fmt.Sprintf("domains: [token.example.com]\nchallenge:\n  type: http-01\n  http01: {webroot: %s}\n", webroot))
				} else {
					w.addCert("site", listenCert(pb.HTTPPort, "token.example.com"))
				}
				proxy.set(proxyFault{mode: unsafeToken, token: token})

				run := renewdWithin(t, w, time.Minute, "renew", "--now")
				checkFailedOnce(t, w, "site", run, "unsafe token")
				if proxy.faulted.Load() == 0 {
					t.Fatal("no authorization carried the token: the fault was not exercised")
				}
				if n := proxy.count(pebbleChallenge); n != 0 {
					t.Errorf("renewd asked the CA to validate %d challenge(s) with an unsafe token", n)
				}
				checkLiveUnchanged(t, w, "site", liveSnapshot{}, nil)
				_ = filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						t.Errorf("renewd wrote %s", path)
					}
					return nil
				})
				escaped := filepath.Join(webroot, ".well-known", "acme-challenge", token)
				if _, err := os.Lstat(escaped); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s exists (%v)", escaped, err)
				}
			})
		}
	}
}

// TestCAServerErrorNoNonceStorm is a known trap: a 5xx on a POST
// that a client retries with the same signed body turns into a run of
// badNonce errors. renewd must end with one clear failure instead, in
// bounded time, and recover when the CA does. "lost answer" lets Pebble
// finalize (consuming the nonce) and replaces its answer with the 500, the
// case in which a replay would certainly be refused.
func TestCAServerErrorNoNonceStorm(t *testing.T) {
	t.Parallel()
	cases := []struct {
		desc  string
		fault proxyFault
	}{
		{desc: "once", fault: proxyFault{mode: caServerError, path: pebbleFinalize, times: 1}},
		{desc: "always", fault: proxyFault{mode: caServerError, path: pebbleFinalize}},
		{desc: "lost answer", fault: proxyFault{mode: caLostAnswer, path: pebbleFinalize, times: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			pb, proxy, w := proxiedWorkspace(t, pebbleOpts{})
			domains := []string{"finalize.example.com"}
			w.addCert("shop", listenCert(pb.HTTPPort, domains...))
			w.mustRenew("renew", "--now")
			before := snapshotLive(t, w, "shop")

			proxy.set(tc.fault)
			finalizes, badNonces := proxy.count(pebbleFinalize), proxy.badNonces.Load()
			run := renewdWithin(t, w, time.Minute, "renew", "--now")
			next := checkFailedOnce(t, w, "shop", run, "500", "serverInternal")
			if n := proxy.count(pebbleFinalize) - finalizes; n != 1 {
				t.Errorf("renewd sent the finalize %d times: want once, no replay", n)
			}
			// Pebble refuses 5% of good nonces by default, so a few
			// badNonce answers are normal; a storm is lego retrying for
			// 20 seconds, about ten of them.
			if n := proxy.badNonces.Load() - badNonces; n > 3 {
				t.Errorf("Pebble answered badNonce %d times during the run: a badNonce storm", n)
			}
			if strings.Contains(w.state()["shop"]["last_error"].(string), "badNonce") {
				t.Error("the recorded failure is a badNonce, not the CA's 500")
			}
			checkBackoff(t, run, next)
			checkLiveUnchanged(t, w, "shop", before, domains)

			if tc.fault.times == 0 {
				proxy.setMode(passThrough)
			}
			w.mustRenew("renew", "--now")
			w.checkComplete("shop", domains, 1)
			if rec := w.state()["shop"]; rec["retry_count"] != float64(0) || rec["next_retry_time"] != nil {
				t.Errorf("retry fields not reset after the CA recovered: %v", rec)
			}
		})
	}
}

// TestPebbleNonceReject runs against a CA that rejects nonces. At 100% no
// request can succeed: one clean failure, in bounded time. At 90% lego's
// retries (about 20s per request) may or may not get each request through:
// the run must end either renewed and complete, or with one clean failure
// naming badNonce, never stuck and never half-stored.
func TestPebbleNonceReject(t *testing.T) {
	t.Parallel()
	for _, percent := range []int{100, 90} {
		t.Run(fmt.Sprint(percent), func(t *testing.T) {
			t.Parallel()
			pb := startPebble(t, pebbleOpts{nonceReject: percent})
			w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile, retry: retrySettings})
			domains := []string{"nonce.example.com"}
			w.addCert("shop", listenCert(pb.HTTPPort, domains...))
			// lego retries a refused nonce for up to 20 seconds per
			// request; at 100% the first request fails after that, at 90%
			// a run took 35 to 50 seconds when measured.
			bound := 2 * time.Minute
			if percent < 100 {
				bound = 5 * time.Minute
			}
			run := renewdWithin(t, w, bound, "renew", "--now")
			if percent == 90 && run.code == 0 {
				w.checkComplete("shop", domains, 1)
				checkNoKeyMaterial(t, w, run.result)
				return
			}
			next := checkFailedOnce(t, w, "shop", run, "badNonce")
			checkBackoff(t, run, next)
			checkLiveUnchanged(t, w, "shop", liveSnapshot{}, domains)
		})
	}
}
