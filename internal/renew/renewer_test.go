package renew

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/go-acme/lego/v4/acme"

	renewdacme "github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// fakeIssuer is an Issuer whose behaviour is a function field. It records
// the names it was asked for, in call order, and the previous certificate
// each order replaced. Without renewalInfo it is a CA without ARI.
type fakeIssuer struct {
	obtain      func(ctx context.Context, cert *config.Certificate) (*renewdacme.Issued, error)
	renewalInfo func(ctx context.Context, leaf *x509.Certificate) (*renewdacme.RenewalInfo, error)

	mu        sync.Mutex
	calls     []string
	previous  []*x509.Certificate // per call to Obtain
	infoCalls []string            // serials asked for with RenewalInfo
}

func (f *fakeIssuer) Obtain(ctx context.Context, cert *config.Certificate, previous *x509.Certificate) (*renewdacme.Issued, error) {
	f.mu.Lock()
	f.calls = append(f.calls, cert.Name)
	f.previous = append(f.previous, previous)
	f.mu.Unlock()
	return f.obtain(ctx, cert)
}

func (f *fakeIssuer) RenewalInfo(ctx context.Context, leaf *x509.Certificate) (*renewdacme.RenewalInfo, error) {
	f.mu.Lock()
	f.infoCalls = append(f.infoCalls, leaf.SerialNumber.Text(16))
	fn := f.renewalInfo
	f.mu.Unlock()
	if fn == nil {
		return nil, renewdacme.ErrNoARI
	}
	return fn(ctx, leaf)
}

func (f *fakeIssuer) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeIssuer) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.previous, f.infoCalls = nil, nil, nil
}

// noFetcher fails the test if the chain package tries AIA: none of the
// test certificates carries an AIA URL, and unit tests make no requests.
type noFetcher struct{ t *testing.T }

func (f noFetcher) Fetch(_ context.Context, url string) ([]*x509.Certificate, error) {
	f.t.Errorf("unexpected AIA fetch of %s", url)
	return nil, errors.New("no network in unit tests")
}

// progress records every step, for the steps tests look at.
type progress struct {
	mu    sync.Mutex
	lines []string
}

func (p *progress) Step(name, step, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, name+" "+step+": "+detail)
}

func (p *progress) has(prefix string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

type harness struct {
	t        *testing.T
	clock    *fakeClock
	ca       *testCA
	store    *store.Store
	issuer   *fakeIssuer
	progress *progress
	r        *Renewer
}

func certCfg(name string, canary bool, domains ...string) *config.Certificate {
	if len(domains) == 0 {
		domains = []string{name + ".example.com", "www." + name + ".example.com"}
	}
	return &config.Certificate{
		Name: name, Domains: domains, Canary: canary, KeyType: "ec256",
		Challenge: config.Challenge{Type: "dns-01", DNS01: config.DNS01{Provider: "exec"}},
	}
}

// newHarness wires a Renewer to a real store in a temporary directory, a
// fake clock at t0, jitter 0, the test CA's root and a fake issuer that,
// until a test says otherwise, issues a complete chain.
func newHarness(t *testing.T, certs ...*config.Certificate) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "storage"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: newClock(t0), ca: newCA(t, t0), store: st, progress: &progress{}}
	h.issuer = &fakeIssuer{obtain: h.issueComplete}
	h.r = &Renewer{
		Config: &config.Config{
			Storage: st.Dir(), DomainsDir: filepath.Join(dir, "domains.d"), Concurrency: 4, CanaryProofMaxAge: 48 * time.Hour,
			Retry:        config.Retry{Initial: 5 * time.Minute, Max: 24 * time.Hour},
			Certificates: certs,
		},
		Store:    st,
		Issuer:   h.issuer,
		Roots:    h.ca.pool(),
		Log:      zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		Progress: h.progress,
		Now:      h.clock.Now,
		Jitter:   func() float64 { return 0 },
		Fetcher:  noFetcher{t},
	}
	return h
}

func (h *harness) issueComplete(_ context.Context, c *config.Certificate) (*renewdacme.Issued, error) {
	return h.ca.issue(c.Domains, h.clock.Now(), false)
}

func (h *harness) issueLeafOnly(_ context.Context, c *config.Certificate) (*renewdacme.Issued, error) {
	return h.ca.issue(c.Domains, h.clock.Now(), true)
}

// pass runs one Pass and returns its results.
func (h *harness) pass(opts Options) ([]Result, error) {
	rep, err := h.r.Pass(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	return rep.Results, nil
}

func (h *harness) run(opts Options) map[string]Result {
	h.t.Helper()
	results, err := h.pass(opts)
	if err != nil {
		h.t.Fatalf("Run: %v", err)
	}
	out := make(map[string]Result, len(results))
	for _, r := range results {
		out[r.Name] = r
	}
	if len(out) != len(results) {
		h.t.Fatalf("Run returned duplicate names: %+v", results)
	}
	return out
}

// state reads every state/<name>.json as JSON, the way a person or a
// script reads it.
func (h *harness) state() map[string]map[string]any {
	h.t.Helper()
	files, err := filepath.Glob(filepath.Join(h.store.Dir(), "state", "*.json"))
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			h.t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			h.t.Fatalf("%s: %v\n%s", f, err, data)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = rec
	}
	return out
}

// edit changes one stored record, as a person editing the file would.
func (h *harness) edit(name string, f func(*store.Record)) {
	h.t.Helper()
	rec, err := h.store.Record(name)
	if err != nil {
		h.t.Fatal(err)
	}
	f(rec)
	if err := h.store.SaveRecord(rec); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) versions(name string) []string {
	h.t.Helper()
	v, err := h.store.Versions(name)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func (h *harness) liveVersion(name string) string {
	h.t.Helper()
	_, v, err := h.store.Live(name)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func parseChain(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	certs, err := chain.ParsePEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func TestRunIssuesAndStoresCompleteChain(t *testing.T) {
	shop := certCfg("shop", false)
	h := newHarness(t, shop)

	res := h.run(Options{})["shop"]
	if res.Outcome != Renewed || res.Err != nil {
		t.Fatalf("outcome %q, err %v; want renewed", res.Outcome, res.Err)
	}
	if got := h.issuer.called(); !slices.Equal(got, []string{"shop"}) {
		t.Errorf("issuer calls %v", got)
	}

	files, version, err := h.store.Live("shop")
	if err != nil {
		t.Fatalf("live/shop: %v", err)
	}
	full := parseChain(t, files.Fullchain)
	if len(full) != 2 || !full[1].Equal(h.ca.inter.Cert) {
		t.Fatalf("fullchain.pem holds %d certificates, want leaf + intermediate", len(full))
	}
	leaf := full[0]
	if !slices.Equal(leaf.DNSNames, shop.Domains) {
		t.Errorf("leaf names %v", leaf.DNSNames)
	}
	for _, c := range full {
		if c.Equal(h.ca.root.Cert) {
			t.Error("fullchain.pem contains the root")
		}
	}
	if c := parseChain(t, files.Cert); len(c) != 1 || !c[0].Equal(leaf) {
		t.Error("cert.pem is not the leaf alone")
	}
	if c := parseChain(t, files.Chain); len(c) != 1 || !c[0].Equal(h.ca.inter.Cert) {
		t.Error("chain.pem is not the intermediate")
	}
	if b, _ := pem.Decode(files.Key); b == nil || !strings.Contains(b.Type, "PRIVATE KEY") {
		t.Error("privkey.pem holds no private key")
	}
	// The same bytes through the path nginx is pointed at.
	onDisk, err := os.ReadFile(filepath.Join(h.store.LiveDir("shop"), "fullchain.pem"))
	if err != nil || !bytes.Equal(onDisk, files.Fullchain) {
		t.Errorf("live/shop/fullchain.pem: %v", err)
	}

	rec := h.state()["shop"]
	want := map[string]any{
		"serial":          leaf.SerialNumber.Text(16),
		"not_after":       rfc3339(leaf.NotAfter),
		"not_before":      rfc3339(leaf.NotBefore),
		"renew_time":      rfc3339(t0),
		"last_attempt":    rfc3339(t0),
		"retry_count":     float64(0),
		"next_retry_time": nil,
		"version":         version,
		"issuer":          "renewd Test Intermediate",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("state.json %s = %v, want %v", k, rec[k], v)
		}
	}
	if _, ok := rec["last_error"]; ok {
		t.Errorf("state.json last_error = %v, want absent", rec["last_error"])
	}
	if res.Record == nil || res.Record.Version != version {
		t.Errorf("result record %+v, want version %s", res.Record, version)
	}
	if !h.progress.has("shop chain: complete") || !h.progress.has("shop stored") {
		t.Errorf("progress lacks chain/stored steps: %v", h.progress.lines)
	}
}

func TestRunFailureBackoffAndReset(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	if res := h.run(Options{}); res["shop"].Outcome != Renewed {
		t.Fatalf("first issuance: %+v", res["shop"])
	}
	v1 := h.liveVersion("shop")

	// 61 days later the 90-day certificate is due; the CA fails.
	h.clock.Advance(61 * day)
	failAt := h.clock.Now()
	caErr := errors.New("order: urn:ietf:params:acme:error:serverInternal: 500")
	h.issuer.obtain = func(context.Context, *config.Certificate) (*renewdacme.Issued, error) { return nil, caErr }
	h.issuer.reset()

	res := h.run(Options{})["shop"]
	if res.Outcome != Failed || !errors.Is(res.Err, caErr) {
		t.Fatalf("outcome %q, err %v; want failed with the issuer's error", res.Outcome, res.Err)
	}
	rec := h.state()["shop"]
	if rec["retry_count"] != float64(1) || rec["next_retry_time"] != rfc3339(failAt.Add(5*time.Minute)) {
		t.Errorf("after 1st failure: retry_count %v, next_retry_time %v; want 1, %s",
			rec["retry_count"], rec["next_retry_time"], rfc3339(failAt.Add(5*time.Minute)))
	}
	if rec["last_error"] != caErr.Error() || rec["last_attempt"] != rfc3339(failAt) {
		t.Errorf("last_error %v, last_attempt %v", rec["last_error"], rec["last_attempt"])
	}
	if rec["renew_time"] != rfc3339(t0) {
		t.Errorf("renew_time changed on failure: %v", rec["renew_time"])
	}
	if got := h.liveVersion("shop"); got != v1 || len(h.versions("shop")) != 1 {
		t.Errorf("live %s, versions %v; want the first version untouched", got, h.versions("shop"))
	}

	// A minute later it is still waiting for its retry: no order.
	h.clock.Advance(time.Minute)
	h.issuer.reset()
	if res := h.run(Options{})["shop"]; res.Outcome != NotDue || res.Plan.Reason != "waiting for retry 1" {
		t.Errorf("before next_retry_time: outcome %q, plan %+v; want not due, waiting", res.Outcome, res.Plan)
	}
	if n := len(h.issuer.called()); n != 0 {
		t.Errorf("ordered %d times before next_retry_time", n)
	}

	// At next_retry_time it is tried again and fails again: doubled delay.
	h.clock.Advance(4 * time.Minute)
	failAt = h.clock.Now()
	if res := h.run(Options{})["shop"]; res.Outcome != Failed {
		t.Fatalf("2nd failure: outcome %q", res.Outcome)
	}
	rec = h.state()["shop"]
	if rec["retry_count"] != float64(2) || rec["next_retry_time"] != rfc3339(failAt.Add(10*time.Minute)) {
		t.Errorf("after 2nd failure: retry_count %v, next_retry_time %v; want 2, %s",
			rec["retry_count"], rec["next_retry_time"], rfc3339(failAt.Add(10*time.Minute)))
	}

	// The CA recovers: success resets the failure fields.
	h.clock.Advance(10 * time.Minute)
	okAt := h.clock.Now()
	h.issuer.obtain = h.issueComplete
	if res := h.run(Options{})["shop"]; res.Outcome != Renewed {
		t.Fatalf("after recovery: outcome %q, err %v", res.Outcome, res.Err)
	}
	rec = h.state()["shop"]
	if rec["retry_count"] != float64(0) || rec["next_retry_time"] != nil || rec["last_error"] != nil {
		t.Errorf("success did not reset: retry_count %v, next_retry_time %v, last_error %v",
			rec["retry_count"], rec["next_retry_time"], rec["last_error"])
	}
	if rec["renew_time"] != rfc3339(okAt) {
		t.Errorf("renew_time %v, want %s", rec["renew_time"], rfc3339(okAt))
	}
	if v := h.versions("shop"); len(v) != 2 || h.liveVersion("shop") != v[1] {
		t.Errorf("versions %v, live %s; want a second version, live", v, h.liveVersion("shop"))
	}
}

// docs/policy.md: nothing renews a certificate before its
// next_retry_time except renew --now; that includes a certificate whose very
// first order failed.
func TestRunFirstIssuanceFailureWaitsForRetry(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	h.issuer.obtain = func(context.Context, *config.Certificate) (*renewdacme.Issued, error) {
		return nil, errors.New("dns-01: provider rejected the credentials")
	}
	if res := h.run(Options{})["shop"]; res.Outcome != Failed {
		t.Fatalf("outcome %q", res.Outcome)
	}
	if rec := h.state()["shop"]; rec["retry_count"] != float64(1) || rec["next_retry_time"] != rfc3339(t0.Add(5*time.Minute)) {
		t.Errorf("retry_count %v, next_retry_time %v", rec["retry_count"], rec["next_retry_time"])
	}
	if h.liveVersion("shop") != "" || len(h.versions("shop")) != 0 {
		t.Error("a failed first order left files behind")
	}

	h.clock.Advance(time.Minute)
	h.issuer.reset()
	res := h.run(Options{})["shop"]
	if calls := h.issuer.called(); len(calls) != 0 {
		t.Errorf("ordered again 1 minute after a failure, before next_retry_time %s (outcome %q, plan %+v)",
			rfc3339(t0.Add(5*time.Minute)), res.Outcome, res.Plan)
	}
}

// docs/policy.md: a CA's Retry-After is a floor for next_retry_time.
func TestRunFailureHonoursRetryAfter(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	h.issuer.obtain = func(context.Context, *config.Certificate) (*renewdacme.Issued, error) {
		return nil, fmt.Errorf("order: %w", &acme.RateLimitedError{
			ProblemDetails: &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:rateLimited", Detail: "too many certificates", HTTPStatus: 429},
			RetryAfter:     "7200",
		})
	}
	if res := h.run(Options{})["shop"]; res.Outcome != Failed {
		t.Fatalf("outcome %q", res.Outcome)
	}
	rec := h.state()["shop"]
	next, err := time.Parse(time.RFC3339, fmt.Sprint(rec["next_retry_time"]))
	if err != nil {
		t.Fatalf("next_retry_time %v: %v", rec["next_retry_time"], err)
	}
	if want := t0.Add(2 * time.Hour); next.Before(want) {
		t.Errorf("next_retry_time %s is before the CA's Retry-After (%s)", rfc3339(next), rfc3339(want))
	}
}

func TestRunLeafOnlyAnswerIsRefused(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	if res := h.run(Options{}); res["shop"].Outcome != Renewed {
		t.Fatalf("first issuance: %+v", res["shop"])
	}
	v1 := h.liveVersion("shop")
	before, _, err := h.store.Live("shop")
	if err != nil {
		t.Fatal(err)
	}

	h.clock.Advance(61 * day)
	h.issuer.obtain = h.issueLeafOnly
	res := h.run(Options{})["shop"]
	if res.Outcome != Failed {
		t.Fatalf("outcome %q; a leaf-only answer must fail", res.Outcome)
	}
	if res.Err == nil || !strings.Contains(res.Err.Error(), "chain incomplete") {
		t.Errorf("error %v; want one mentioning \"chain incomplete\"", res.Err)
	}
	var inc *chain.IncompleteError
	if !errors.As(res.Err, &inc) {
		t.Errorf("error %v does not wrap *chain.IncompleteError", res.Err)
	}
	if v := h.versions("shop"); len(v) != 1 || h.liveVersion("shop") != v1 {
		t.Errorf("versions %v, live %s; want only the previous version, still live", v, h.liveVersion("shop"))
	}
	after, _, err := h.store.Live("shop")
	if err != nil || !bytes.Equal(before.Fullchain, after.Fullchain) || !bytes.Equal(before.Key, after.Key) {
		t.Errorf("live files changed after a refused answer (%v)", err)
	}
	if rec := h.state()["shop"]; rec["retry_count"] != float64(1) || !strings.Contains(fmt.Sprint(rec["last_error"]), "chain incomplete") {
		t.Errorf("state: retry_count %v, last_error %v", rec["retry_count"], rec["last_error"])
	}
}

func TestRunLeafOnlyFirstIssuanceStoresNothing(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	h.issuer.obtain = h.issueLeafOnly
	res := h.run(Options{})["shop"]
	if res.Outcome != Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "chain incomplete") {
		t.Fatalf("outcome %q, err %v", res.Outcome, res.Err)
	}
	if h.liveVersion("shop") != "" || len(h.versions("shop")) != 0 {
		t.Error("a leaf-only answer was stored")
	}
}

func TestRunCanary(t *testing.T) {
	boom := errors.New("order: boom")
	tests := []struct {
		desc       string
		canaryFail bool
		wantOut    map[string]Outcome
		wantCalls  []string // nil: only the first call is checked
	}{
		{desc: "canary fails: the others are held and never ordered", canaryFail: true,
			wantOut:   map[string]Outcome{"a-canary": Failed, "b": Held, "c": Held},
			wantCalls: []string{"a-canary"}},
		{desc: "canary succeeds: it runs first, then the others",
			wantOut: map[string]Outcome{"a-canary": Renewed, "b": Renewed, "c": Renewed}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			// The canary sorts first only by accident; put it last in config.
			h := newHarness(t, certCfg("b", false), certCfg("c", false), certCfg("a-canary", true))
			h.issuer.obtain = func(ctx context.Context, c *config.Certificate) (*renewdacme.Issued, error) {
				if c.Canary && tt.canaryFail {
					return nil, boom
				}
				return h.issueComplete(ctx, c)
			}
			res := h.run(Options{})
			for name, want := range tt.wantOut {
				if res[name].Outcome != want {
					t.Errorf("%s: outcome %q, want %q (err %v)", name, res[name].Outcome, want, res[name].Err)
				}
			}
			calls := h.issuer.called()
			if tt.wantCalls != nil && !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("issuer calls %v, want %v", calls, tt.wantCalls)
			}
			if len(calls) == 0 || calls[0] != "a-canary" {
				t.Errorf("issuer calls %v; the canary must be first", calls)
			}
			if !tt.canaryFail {
				return
			}
			for _, name := range []string{"b", "c"} {
				if err := res[name].Err; err == nil || !strings.Contains(err.Error(), "canary a-canary failed") || !errors.Is(err, boom) {
					t.Errorf("%s: err %v; want the canary's failure", name, err)
				}
				if rec, ok := h.state()[name]; ok && rec["retry_count"] != float64(0) {
					t.Errorf("%s: a held certificate got a failure recorded: %v", name, rec)
				}
			}
			// Said once: the held lines point at the canary's own line.
			if !h.progress.has("b held: not attempted: canary a-canary failed above") {
				t.Errorf("no held step in progress: %v", h.progress.lines)
			}
		})
	}
}

func TestRunCanaryOnlyWhenThereIsWork(t *testing.T) {
	h := newHarness(t, certCfg("a-canary", true), certCfg("shop", false))
	if res := h.run(Options{}); res["a-canary"].Outcome != Renewed || res["shop"].Outcome != Renewed {
		t.Fatalf("first run: %+v", res)
	}

	// A day later nothing is due: the canary does not run on its own.
	h.clock.Advance(day)
	h.issuer.reset()
	res := h.run(Options{})
	if calls := h.issuer.called(); len(calls) != 0 {
		t.Errorf("nothing due, but ordered %v", calls)
	}
	if res["a-canary"].Outcome != NotDue || res["shop"].Outcome != NotDue {
		t.Errorf("outcomes %q, %q; want not due", res["a-canary"].Outcome, res["shop"].Outcome)
	}

	// renew --now shop: there is work, but the canary proved the path a
	// day ago, so its proof gates the run and it is not ordered.
	h.issuer.reset()
	res = h.run(Options{Force: true, Names: []string{"shop"}})
	if calls := h.issuer.called(); !slices.Equal(calls, []string{"shop"}) {
		t.Errorf("forced run ordered %v; want shop alone behind the canary's fresh proof", calls)
	}
	if !h.progress.has("a-canary proof: canary: proved the path at") {
		t.Errorf("the fresh proof is not said: %v", h.progress.lines)
	}
}

// A canary that failed is waiting for its retry while other certificates
// are due. docs/policy.md: nothing renews a certificate before its
// next_retry_time except renew --now, canaries included; and the others run
// only after every canary succeeded, so they stay held.
func TestRunCanaryWaitingForRetryIsNotOrdered(t *testing.T) {
	h := newHarness(t, certCfg("a-canary", true), certCfg("shop", false))
	if res := h.run(Options{}); res["a-canary"].Outcome != Renewed || res["shop"].Outcome != Renewed {
		t.Fatalf("first run: %+v", res)
	}
	// 61 days later both are due; the canary fails, shop is held.
	h.clock.Advance(61 * day)
	h.issuer.obtain = func(ctx context.Context, c *config.Certificate) (*renewdacme.Issued, error) {
		if c.Canary {
			return nil, errors.New("order: boom")
		}
		return h.issueComplete(ctx, c)
	}
	if res := h.run(Options{}); res["a-canary"].Outcome != Failed || res["shop"].Outcome != Held {
		t.Fatalf("outcomes %q, %q; want failed, held", res["a-canary"].Outcome, res["shop"].Outcome)
	}
	// One minute later (next_retry_time is 5 minutes after the failure)
	// shop is still due, the canary is not.
	h.clock.Advance(time.Minute)
	h.issuer.reset()
	res := h.run(Options{})
	if calls := h.issuer.called(); slices.Contains(calls, "a-canary") {
		t.Errorf("the canary was ordered 1 minute after its failure, before its next_retry_time (calls %v)", calls)
	}
	if res["shop"].Outcome != Held {
		t.Errorf("shop: outcome %q; want held while the canary waits for its retry", res["shop"].Outcome)
	}
}

func TestRunPanicIsOneCertificatesFailure(t *testing.T) {
	h := newHarness(t, certCfg("a", false), certCfg("b", false), certCfg("c", false))
	h.issuer.obtain = func(ctx context.Context, c *config.Certificate) (*renewdacme.Issued, error) {
		if c.Name == "b" {
			panic("nil map in provider")
		}
		return h.issueComplete(ctx, c)
	}
	res := h.run(Options{})
	if res["b"].Outcome != Failed || res["b"].Err == nil || !strings.Contains(res["b"].Err.Error(), "nil map in provider") {
		t.Errorf("b: outcome %q, err %v; want failed with the panic value", res["b"].Outcome, res["b"].Err)
	}
	if res["a"].Outcome != Renewed || res["c"].Outcome != Renewed {
		t.Errorf("a %q, c %q; a panic must not stop the others", res["a"].Outcome, res["c"].Outcome)
	}
	if rec := h.state()["b"]; rec["retry_count"] != float64(1) {
		t.Errorf("b: retry_count %v", rec["retry_count"])
	}
}

func TestRunNotDueIsNotOrdered(t *testing.T) {
	h := newHarness(t, certCfg("fresh", false), certCfg("old", false))
	if res := h.run(Options{}); res["fresh"].Outcome != Renewed || res["old"].Outcome != Renewed {
		t.Fatalf("first run: %+v", res)
	}
	// Make "old" look issued 70 days ago in state.json; "fresh" is a day old.
	h.edit("old", func(r *store.Record) {
		r.NotBefore = tp(t0.Add(-70 * day))
		r.NotAfter = tp(t0.Add(20 * day))
	})
	h.clock.Advance(day)
	h.issuer.reset()

	res := h.run(Options{})
	if calls := h.issuer.called(); !slices.Equal(calls, []string{"old"}) {
		t.Errorf("issuer calls %v, want only the due certificate", calls)
	}
	if r := res["fresh"]; r.Outcome != NotDue || r.Plan.Due || r.Plan.At.IsZero() {
		t.Errorf("fresh: outcome %q, plan %+v", r.Outcome, r.Plan)
	}
	if res["old"].Outcome != Renewed {
		t.Errorf("old: outcome %q, err %v", res["old"].Outcome, res["old"].Err)
	}

	// --now renews it anyway; Names limits the run.
	h.issuer.reset()
	res = h.run(Options{Force: true, Names: []string{"fresh"}})
	if calls := h.issuer.called(); !slices.Equal(calls, []string{"fresh"}) || len(res) != 1 || res["fresh"].Outcome != Renewed {
		t.Errorf("renew --now fresh: calls %v, results %+v", calls, res)
	}
}

func TestRunUnknownName(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	results, err := h.pass(Options{Names: []string{"shop", "nope"}})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Run with an unknown name: results %v, err %v; want an error naming it", results, err)
	}
	if calls := h.issuer.called(); len(calls) != 0 {
		t.Errorf("issuer called %v", calls)
	}
}

func TestRunPreflightWebroot(t *testing.T) {
	c := certCfg("shop", false)
	c.Challenge = config.Challenge{Type: "http-01", HTTP01: config.HTTP01{Webroot: filepath.Join(t.TempDir(), "missing")}}
	h := newHarness(t, c)
	res := h.run(Options{})["shop"]
	if res.Outcome != Failed || res.Err == nil || !strings.Contains(res.Err.Error(), "webroot") {
		t.Errorf("outcome %q, err %v; want a webroot failure", res.Outcome, res.Err)
	}
	if calls := h.issuer.called(); len(calls) != 0 {
		t.Errorf("an order was spent on a local mistake: %v", calls)
	}
}

// TestRunPreflightPrograms: a deploy that would run a program that is not
// there (nginx, a hook) fails before the order, naming the field.
func TestRunPreflightPrograms(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-program")
	for _, tt := range []struct {
		name   string
		set    func(*config.Config, *config.Certificate)
		global bool // the problem is in renewd.yaml
		field  string
	}{
		{"nginx", func(g *config.Config, c *config.Certificate) {
			g.Nginx = config.Nginx{Test: []string{missing, "-t"}, Reload: []string{"true"}}
			c.Deploy = config.Deploy{Nginx: true}
		}, true, "nginx.test[0]"},
		{"hook", func(_ *config.Config, c *config.Certificate) {
			c.Deploy = config.Deploy{Hooks: [][]string{{"true"}, {missing, "x"}}}
		}, false, "deploy.hooks[1][0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := certCfg("shop", false)
			h := newHarness(t, c)
			tt.set(h.r.Config, c)
			res := h.run(Options{})["shop"]
			var fe *config.FieldError
			if res.Outcome != Failed || !errors.As(res.Err, &fe) || fe.Field != tt.field || !strings.Contains(res.Err.Error(), missing) {
				t.Fatalf("outcome %q, err %v; want a failure on %s naming %s", res.Outcome, res.Err, tt.field, missing)
			}
			if calls := h.issuer.called(); len(calls) != 0 {
				t.Errorf("an order was spent on a certificate that cannot be deployed: %v", calls)
			}
		})
	}
}

// TestRunConcurrencyBound holds every order in the fake issuer and releases
// them one by one: the number in flight must reach Concurrency (so the bound
// is not also a serialisation) and never exceed it.
func TestRunConcurrencyBound(t *testing.T) {
	for _, limit := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("concurrency %d", limit), func(t *testing.T) {
			const n = 7
			var certs []*config.Certificate
			for i := range n {
				certs = append(certs, certCfg(fmt.Sprintf("c%d", i), false))
			}
			h := newHarness(t, certs...)
			h.r.Config.Concurrency = limit

			var inFlight, maxInFlight atomic.Int32
			arrived := make(chan string)
			release := make(chan struct{})
			h.issuer.obtain = func(ctx context.Context, c *config.Certificate) (*renewdacme.Issued, error) {
				cur := inFlight.Add(1)
				for {
					m := maxInFlight.Load()
					if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
						break
					}
				}
				defer inFlight.Add(-1)
				arrived <- c.Name
				<-release
				return h.issueComplete(ctx, c)
			}

			done := make(chan map[string]Result, 1)
			go func() {
				results, err := h.pass(Options{})
				if err != nil {
					t.Errorf("Run: %v", err)
				}
				m := map[string]Result{}
				for _, r := range results {
					m[r.Name] = r
				}
				done <- m
			}()

			// Deadlock guard only: the protocol itself never waits on time.
			guard := time.NewTimer(30 * time.Second)
			defer guard.Stop()
			arrivedN, released := 0, 0
			for released < n {
				for arrivedN-released < min(limit, n-released) {
					select {
					case <-arrived:
						arrivedN++
					case <-guard.C:
						t.Fatalf("only %d orders in flight of %d allowed (%d released): the bound serialises", arrivedN-released, limit, released)
					}
				}
				if cur := inFlight.Load(); int(cur) > limit {
					t.Errorf("%d orders in flight, limit %d", cur, limit)
				}
				release <- struct{}{}
				released++
			}
			res := <-done
			if got := maxInFlight.Load(); int(got) != limit {
				t.Errorf("at most %d orders were in flight, want exactly the limit %d", got, limit)
			}
			for name, r := range res {
				if r.Outcome != Renewed {
					t.Errorf("%s: outcome %q, err %v", name, r.Outcome, r.Err)
				}
			}
			if len(res) != n {
				t.Errorf("%d results, want %d", len(res), n)
			}
		})
	}
}

// TestForcedSinceIsExact: a forced pass with Since (a cluster's request)
// skips a certificate renewed after the request, even one a new leader
// runs again, but not one renewed earlier in the same second: records keep
// whole seconds, and the renewal that made someone ask is not an answer to
// the asking.
func TestForcedSinceIsExact(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	h.clock.Advance(200 * time.Millisecond)
	if res := h.run(Options{}); res["shop"].Outcome != Renewed {
		t.Fatalf("first run: %+v", res["shop"])
	}
	asked := h.clock.Now().Add(600 * time.Millisecond) // the same second
	h.clock.Advance(time.Second)

	h.issuer.reset()
	if res := h.run(Options{Force: true, Since: asked}); res["shop"].Outcome != Renewed {
		t.Errorf("asked after the renewal within its second: %q, want renewed", res["shop"].Outcome)
	}
	if calls := h.issuer.called(); !slices.Equal(calls, []string{"shop"}) {
		t.Errorf("ordered %v, want shop", calls)
	}

	// The same request run again (the leader that ran it died before it
	// answered): it was renewed since, so nothing is ordered.
	h.issuer.reset()
	h.clock.Advance(time.Minute)
	if res := h.run(Options{Force: true, Since: asked}); res["shop"].Outcome == Renewed {
		t.Errorf("the request ran again renewed shop a second time")
	}
	if calls := h.issuer.called(); len(calls) != 0 {
		t.Errorf("ordered %v for a request already answered", calls)
	}
}
