package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/test/harness"
)

// Client-side rate limiting (docs/configuration.md, acme.rate_limit),
// through a proxy in front of Pebble that holds clients to a rate the way
// a CA does and counts every request with its time.

// limitedWorkspace is a workspace ordering through a proxy with opts, its
// renewd.yaml carrying rateLimit (YAML for acme.rate_limit, indented by
// four spaces), and n certificates answered by renewd's own responder.
func limitedWorkspace(t *testing.T, o harness.ProxyOptions, rateLimit string, n int) (*pebble, *caProxy, *workspace) {
	t.Helper()
	pb := startPebble(t, pebbleOpts{})
	proxy := startProxyWith(t, pb, o)
	w := newWorkspace(t, acmeSettings{directory: proxy.dirURL, rootFile: pb.RootFile})
	w.writeGlobal(fmt.Sprintf(`storage: %s
acme:
  directory: %s
  email: e2e@example.com
  ca_certificates: [%s]
  profile: default
  rate_limit:
%s
trust:
  extra_roots: [%s]
retry: {initial: 5m, max: 24h}
`, w.storage, proxy.dirURL, env.tlsCAFile, rateLimit, pb.RootFile))
	for i := range n {
		w.addCert(fmt.Sprintf("c%02d", i), listenCert(pb.HTTPPort, fmt.Sprintf("c%02d.limit.example.com", i)))
	}
	return pb, proxy, w
}

// TestRateLimitPacesEveryRequest renews certificates with 64 workers
// through a CA that refuses anything over 15 requests a second (burst 5),
// with renewd told that limit: no request goes over it, every certificate
// is renewed, and exactly one new order per certificate reaches the CA.
// The same run without the limit goes over at once: the proxy's check is
// not vacuous.
func TestRateLimitPacesEveryRequest(t *testing.T) {
	t.Parallel()
	const n = 8
	limit := harness.ProxyRate{PerSecond: 15, Burst: 5}
	paced := "    requests: {per_second: 15, burst: 5}"
	_, proxy, w := limitedWorkspace(t, harness.ProxyOptions{Limit: limit}, paced, n)
	start := time.Now()
	res := w.mustRenew("renew", "--now")
	took := time.Since(start)
	s := proxy.Stats()
	t.Logf("paced: %d requests in %s, busiest second %d", s.Requests, took, s.MaxPerSecond)
	if s.Over != 0 {
		t.Errorf("%d of %d requests went over 15/s (burst 5); the busiest second had %d:\n%s", s.Over, s.Requests, s.MaxPerSecond, res)
	}
	if s.Orders != n {
		t.Errorf("Pebble created %d orders for %d certificates", s.Orders, n)
	}
	if !strings.Contains(res.stdout, fmt.Sprintf("%d renewed, 0 failed", n)) {
		t.Errorf("not every certificate was renewed:\n%s", res)
	}
	// The pace itself: s.Requests requests at 15/s after a burst of 5 take
	// at least (s.Requests-5)/15 s.
	if min := time.Duration(float64(s.Requests-limit.Burst) / float64(limit.PerSecond) * float64(time.Second)); took < min {
		t.Errorf("%d requests in %s, faster than 15/s allows (%s)", s.Requests, took, min)
	}

	// Control: no limit at all, the same certificates again.
	_, proxy, w = limitedWorkspace(t, harness.ProxyOptions{Limit: limit}, "    requests: {per_second: 0}\n    endpoints: {new_nonce: {per_second: 0}}", n)
	w.renewd("renew", "--now")
	if s := proxy.Stats(); s.Over == 0 {
		t.Errorf("without its limiter renewd stayed under 15/s (busiest second %d requests): the check above proves nothing", s.MaxPerSecond)
	}
}

// TestRateLimitStormOnePause: a CA refuses every new order for 5 s with
// 429 and Retry-After: 5. renewd pauses every worker once, sends nothing
// more to the CA until the 5 s are over, then orders again and renews every
// certificate in the same run: one pause, no per-certificate backoff, no
// order placed twice at the CA.
func TestRateLimitStormOnePause(t *testing.T) {
	t.Parallel()
	const n = 12
	_, proxy, w := limitedWorkspace(t, harness.ProxyOptions{}, "    pause: 1m", n)
	proxy.Storm(20, 5*time.Second)
	res := w.mustRenew("renew", "--now")
	if !strings.Contains(res.stdout, fmt.Sprintf("%d renewed, 0 failed", n)) {
		t.Errorf("not every certificate was renewed in the run:\n%s", res)
	}
	s := proxy.Stats()
	if s.StormRefused == 0 {
		t.Fatalf("the storm refused nothing: %+v", s)
	}
	t.Logf("storm: %d new orders refused, %d requests in all, busiest second %d", s.StormRefused, s.Requests, s.MaxPerSecond)
	if pauses := strings.Count(res.stderr, "pausing every request to it"); pauses != 1 {
		t.Errorf("renewd paused %d times for one storm, want 1:\n%s", pauses, res.stderr)
	}
	// Nothing but the requests already on their way when the first 429
	// came back reaches the CA until the Retry-After is over.
	end := s.StormStart.Add(5 * time.Second)
	for _, r := range proxy.Requests() {
		if r.At.After(s.StormStart.Add(time.Second)) && r.At.Before(end) {
			t.Errorf("%s %s at +%s, during the pause", r.Method, r.Class, r.At.Sub(s.StormStart))
		}
	}
	if s.Orders != n || s.StormPassed != 0 {
		t.Errorf("Pebble created %d orders (%d during the storm) for %d certificates", s.Orders, s.StormPassed, n)
	}
	for name, rec := range w.state() {
		if rec["retry_count"] != float64(0) || rec["next_retry_time"] != nil {
			t.Errorf("%s has retry_count %v, next_retry_time %v: the pause became a backoff", name, rec["retry_count"], rec["next_retry_time"])
		}
	}
}
