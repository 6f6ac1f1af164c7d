//go:build bench

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/renewd/renewd/test/harness"
)

// scaleRateLimit is the acme.rate_limit of the scale run: Pebble has no
// published limits, so the run sets a pace of its own (400 requests a
// second, burst 100; 200 nonces a second) and no order budget (Pebble
// keeps none, and Let's Encrypt's 300 in 3 hours would refuse 700 of the
// 1,000 first issuances). The proxy refuses anything faster.
const scaleRateLimit = `  rate_limit:
    requests: {per_second: 400, burst: 100}
    endpoints:
      new_nonce: {per_second: 200, burst: 50}
    orders: {max: 0}
`

// scaleLimit is scaleRateLimit's overall pace, as the proxy enforces it.
var scaleLimit = harness.ProxyRate{PerSecond: 400, Burst: 100}

// ScaleRun is renew-all at scale: n certificates issued (untimed, CPU
// measured), then all renewed at once (timed), each renewal replacing the
// certificate before it (ARI replaces).
type ScaleRun struct {
	Binary       string  `json:"binary"`
	N            int     `json:"n"`
	Config       string  `json:"config"`
	Issue        Usage   `json:"issue"`
	Renew        Usage   `json:"renew"`
	Renewed      int     `json:"renewed"`
	Requests     int     `json:"requests"` // at the proxy, renewal only
	Over         int     `json:"over_rate"`
	MaxPerSecond int     `json:"max_requests_per_second"`
	Orders       int     `json:"orders_created"`     // at Pebble, renewal only
	Replacements int     `json:"replacement_orders"` // Pebble's "is a replacement of" lines, renewal only
	Nonces       int     `json:"nonce_requests"`     // renewal only
	Directory    int     `json:"directory_requests"` // renewal only
	PebbleCPUS   float64 `json:"pebble_cpu_s"`       // renewal only
	Error        string  `json:"error,omitempty"`
}

// scaleRun renews n certificates with binary: after with scaleRateLimit
// through a proxy holding it to that pace, before with concurrency 64 (the
// setting issue #17's figures were taken with) through a counting proxy.
func scaleRun(o options, c *ca, binary string, n int) *ScaleRun {
	r := &ScaleRun{Binary: binary, N: n}
	cl := &renewdClient{bin: filepath.Join(o.bin, binary), global: "concurrency: 64\n", timeout: 15 * time.Minute}
	po := harness.ProxyOptions{}
	if binary == after {
		cl.acme, cl.global, po.Limit = scaleRateLimit, "", scaleLimit
	}
	r.Config = strings.TrimSpace(cl.acme + cl.global)
	p := c.proxy(po)
	cl.Setup(c, p.DirURL, mkdir(o.work, fmt.Sprintf("scale-%s-%d", binary, n)), n)
	logf("scale N=%d %s: issuing (untimed)", n, binary)
	var err error
	start := time.Now()
	if r.Issue, err = cl.Issue(); err != nil {
		r.Error = fmt.Sprintf("issue: %v", err)
	}
	r.Issue.WallS = time.Since(start).Seconds()
	old := serials(cl.Leaves())
	logf("  issued %d in %.1f s, cpu %.2f s (%.1f ms a certificate); renewing all (timed)", len(old), r.Issue.WallS, r.Issue.CPUS, 1000*r.Issue.CPUS/float64(n))
	s0 := p.Stats()
	logAt := fileSize(c.pebble.Proc.Log)
	pebble0 := procCPU(c.pebblePid())
	r.Renew, err = cl.Renew()
	r.PebbleCPUS = procCPU(c.pebblePid()) - pebble0
	s1 := p.Stats()
	r.Requests, r.Orders = s1.Requests-s0.Requests, s1.Orders-s0.Orders
	r.Nonces = s1.ByClass[harness.PebbleNonce] - s0.ByClass[harness.PebbleNonce]
	r.Directory = s1.ByClass[harness.PebbleDirectory] - s0.ByClass[harness.PebbleDirectory]
	r.Over, r.MaxPerSecond = s1.Over, s1.MaxPerSecond
	r.Replacements = strings.Count(readFrom(c.pebble.Proc.Log, logAt), "is a replacement of")
	r.Renewed = renewedCount(old, serials(cl.Leaves()))
	if err != nil && r.Error == "" {
		r.Error = err.Error()
	}
	logf("  %s: wall %.2f s, cpu %.2f s, renewed %d/%d, %d requests (%d over the rate, busiest second %d), %d orders (%d replacing), pebble cpu %.2f s %s",
		binary, r.Renew.WallS, r.Renew.CPUS, r.Renewed, n, r.Requests, r.Over, r.MaxPerSecond, r.Orders, r.Replacements, r.PebbleCPUS, r.Error)
	return r
}

// StormRun is a renewal of n certificates through a CA that refuses every
// new order for 5 s after the first one (at most 20), with Retry-After.
type StormRun struct {
	Binary        string  `json:"binary"`
	N             int     `json:"n"`
	Renew         Usage   `json:"renew"`
	Renewed       int     `json:"renewed"`
	Refused       int     `json:"refused"`               // new orders the storm refused
	Pauses        int     `json:"pauses"`                // "pausing every request" in renewd's log
	DuringPause   int     `json:"requests_during_pause"` // requests arriving 1 s to 5 s after the first refusal
	FirstAfterS   float64 `json:"first_order_after_s"`   // first new order Pebble got after the storm began, seconds after its start
	RetryAfterMax string  `json:"max_next_retry,omitempty"`
	Failed        int     `json:"failed_in_run"`
	Error         string  `json:"error,omitempty"`
}

const stormFor = 5 * time.Second

// stormRun issues n certificates with binary's default configuration, then
// renews them all while the proxy refuses new orders for 5 s.
func stormRun(o options, c *ca, binary string, n int) *StormRun {
	r := &StormRun{Binary: binary, N: n}
	cl := &renewdClient{bin: filepath.Join(o.bin, binary), timeout: 10 * time.Minute}
	p := c.proxy(harness.ProxyOptions{})
	cl.Setup(c, p.DirURL, mkdir(o.work, fmt.Sprintf("storm-%s-%d", binary, n)), n)
	logf("storm N=%d %s: issuing (untimed)", n, binary)
	if _, err := cl.Issue(); err != nil {
		r.Error = fmt.Sprintf("issue: %v", err)
		return r
	}
	old := serials(cl.Leaves())
	logAt := fileSize(cl.log)
	p.Storm(20, stormFor)
	logf("  renewing all %d while the CA refuses new orders for %s", n, stormFor)
	var err error
	r.Renew, err = cl.Renew()
	r.Renewed = renewedCount(old, serials(cl.Leaves()))
	r.Failed = n - r.Renewed
	if err != nil && r.Failed == 0 {
		r.Error = err.Error()
	}
	r.Pauses = strings.Count(readFrom(cl.log, logAt), "pausing every request to it")
	s := p.Stats()
	r.Refused = s.StormRefused
	for _, q := range p.Requests() {
		d := q.At.Sub(s.StormStart)
		if d > time.Second && d < stormFor {
			r.DuringPause++
		}
		if q.Class == harness.PebbleNewOrder && q.Refused == "" && d > 0 && r.FirstAfterS == 0 {
			r.FirstAfterS = d.Seconds()
		}
	}
	logf("  %s: wall %.2f s, renewed %d/%d in the run, %d refused, %d pauses, %d requests during the pause, first order %.2f s after the storm began",
		binary, r.Renew.WallS, r.Renewed, n, r.Refused, r.Pauses, r.DuringPause, r.FirstAfterS)
	return r
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom is the file's content from offset on.
func readFrom(path string, offset int64) string {
	s := readFile(path)
	if int64(len(s)) < offset {
		return ""
	}
	return s[offset:]
}
