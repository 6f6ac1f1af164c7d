package renew

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	renewdacme "github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// canaryRec is a canary's record issued at issued (90 days), with a proof
// at proof (nil: none), failing and waiting until retry (nil: not).
func canaryRec(issued time.Time, proof, retry *time.Time) *store.Record {
	na := issued.Add(90 * day)
	r := &store.Record{Name: "canary", NotBefore: &issued, NotAfter: &na, CanaryProof: proof}
	if retry != nil {
		r.RetryCount, r.NextRetryTime, r.LastError = 1, retry, "order: boom"
	}
	return r
}

func TestGateCanaries(t *testing.T) {
	const maxAge = 48 * time.Hour
	canary := &config.Certificate{Name: "canary", Domains: []string{"canary.example.com"}, Canary: true}
	other := &config.Certificate{Name: "canary2", Domains: []string{"canary2.example.com"}, Canary: true}
	fresh := canaryRec(t0.Add(-10*day), tp(t0.Add(-47*time.Hour)), nil)
	stale := canaryRec(t0.Add(-10*day), tp(t0.Add(-49*time.Hour)), nil)
	waiting := canaryRec(t0.Add(-10*day), tp(t0.Add(-3*day)), tp(t0.Add(time.Hour)))
	in := func(c *config.Certificate, rec *store.Record, named bool) CanaryInput {
		if rec != nil {
			rec = rec.Clone()
			rec.Name, rec.Domains = c.Name, c.Domains
		}
		return CanaryInput{Cert: c, Record: rec, Plan: Decide(c, rec, t0, named), Named: named}
	}
	tests := []struct {
		desc       string
		canaries   []CanaryInput
		opts       GateOptions
		wantOrder  []string
		wantFresh  []string
		wantHolder string
		wantWhy    string // a substring of the first ordered or fresh canary's reason
	}{
		{desc: "proof fresh: it gates the run, no order", canaries: []CanaryInput{in(canary, fresh, false)},
			opts: GateOptions{Work: true, MaxAge: maxAge}, wantFresh: []string{"canary"}, wantWhy: "fresh for 48h0m0s"},
		{desc: "proof stale: ordered first", canaries: []CanaryInput{in(canary, stale, false)},
			opts: GateOptions{Work: true, MaxAge: maxAge}, wantOrder: []string{"canary"}, wantWhy: "older than 48h0m0s"},
		{desc: "no proof yet: ordered first", canaries: []CanaryInput{in(canary, canaryRec(t0.Add(-10*day), nil, nil), false)},
			opts: GateOptions{Work: true, MaxAge: maxAge}, wantOrder: []string{"canary"}, wantWhy: "no proof"},
		{desc: "never issued: due itself", canaries: []CanaryInput{in(canary, nil, false)},
			opts: GateOptions{Work: true, MaxAge: maxAge}, wantOrder: []string{"canary"}, wantWhy: "no certificate yet"},
		{desc: "canary due itself, proof fresh: ordered", canaries: []CanaryInput{in(canary, canaryRec(t0.Add(-61*day), tp(t0.Add(-time.Hour)), nil), false)},
			opts: GateOptions{Work: true, MaxAge: maxAge}, wantOrder: []string{"canary"}, wantWhy: "1/3 of lifetime left"},
		{desc: "canary due itself without other work: ordered", canaries: []CanaryInput{in(canary, canaryRec(t0.Add(-61*day), tp(t0.Add(-time.Hour)), nil), false)},
			opts: GateOptions{MaxAge: maxAge}, wantOrder: []string{"canary"}},
		{desc: "stale proof without other work: nothing", canaries: []CanaryInput{in(canary, stale, false)},
			opts: GateOptions{MaxAge: maxAge}},
		{desc: "waiting for retry with work: holds, not ordered", canaries: []CanaryInput{in(canary, waiting, false)},
			opts: GateOptions{Work: true, MaxAge: maxAge}, wantHolder: "canary"},
		{desc: "waiting for retry without work: nothing", canaries: []CanaryInput{in(canary, waiting, false)},
			opts: GateOptions{MaxAge: maxAge}},
		{desc: "several canaries: each on its own proof", canaries: []CanaryInput{in(canary, fresh, false), in(other, stale, false)},
			opts: GateOptions{Work: true, MaxAge: maxAge}, wantOrder: []string{"canary2"}, wantFresh: []string{"canary"}},
		{desc: "several canaries: a waiting one holds, a stale one is still ordered", canaries: []CanaryInput{in(canary, waiting, false), in(other, stale, false)},
			opts: GateOptions{Work: true, MaxAge: maxAge}, wantOrder: []string{"canary2"}, wantHolder: "canary"},
		{desc: "--skip-canary: a stale canary is not ordered", canaries: []CanaryInput{in(canary, stale, false)},
			opts: GateOptions{Work: true, SkipCanary: true, MaxAge: maxAge}},
		{desc: "--skip-canary: a due canary is not ordered unless named", canaries: []CanaryInput{in(canary, nil, false)},
			opts: GateOptions{Work: true, SkipCanary: true, MaxAge: maxAge}},
		{desc: "--skip-canary: a waiting canary holds nothing", canaries: []CanaryInput{in(canary, waiting, false)},
			opts: GateOptions{Work: true, SkipCanary: true, MaxAge: maxAge}},
		{desc: "--skip-canary with the canary named: ordered", canaries: []CanaryInput{in(canary, fresh, true)},
			opts: GateOptions{Work: true, SkipCanary: true, MaxAge: maxAge}, wantOrder: []string{"canary"}, wantWhy: "renew --now"},
		{desc: "renew --now OTHER: the work is forced, the proof fresh, no order", canaries: []CanaryInput{in(canary, fresh, false)},
			opts: GateOptions{Work: true, MaxAge: maxAge}, wantFresh: []string{"canary"}},
		{desc: "renew --now CANARY: ordered", canaries: []CanaryInput{in(canary, fresh, true)},
			opts: GateOptions{MaxAge: maxAge}, wantOrder: []string{"canary"}, wantWhy: "renew --now"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			g := GateCanaries(tt.canaries, tt.opts, t0)
			if got := certNames(g.Order); !slices.Equal(got, tt.wantOrder) {
				t.Errorf("order %v, want %v", got, tt.wantOrder)
			}
			if got := certNames(g.Fresh); !slices.Equal(got, tt.wantFresh) {
				t.Errorf("fresh %v, want %v", got, tt.wantFresh)
			}
			holder := ""
			if g.Holder != nil {
				holder = g.Holder.Cert.Name
			}
			if holder != tt.wantHolder {
				t.Errorf("holder %q, want %q", holder, tt.wantHolder)
			}
			if tt.wantWhy != "" {
				first := append(g.Order, g.Fresh...)[0].Name
				if !strings.Contains(g.Why[first], tt.wantWhy) {
					t.Errorf("why %q, want it to say %q", g.Why[first], tt.wantWhy)
				}
			}
		})
	}
}

func certNames(certs []*config.Certificate) []string {
	var out []string
	for _, c := range certs {
		out = append(out, c.Name)
	}
	return out
}

func TestHoldOrGo(t *testing.T) {
	issued := func(nb time.Time, lifetime time.Duration) *store.Record {
		na := nb.Add(lifetime)
		return &store.Record{Name: "shop", NotBefore: &nb, NotAfter: &na}
	}
	failing := canaryRec(t0.Add(-10*day), nil, tp(t0.Add(6*time.Hour)))
	tests := []struct {
		desc     string
		rec      *store.Record
		canary   *store.Record
		wantHold bool
		wantWhy  string
	}{
		{desc: "never issued: held (nothing to lose)", rec: nil, canary: failing, wantHold: true},
		{desc: "due, plenty of time: held", rec: issued(t0.Add(-61*day), 90*day), canary: failing, wantHold: true},
		{desc: "in its emergency window (20h left): goes ahead", rec: issued(t0.Add(-90*day+20*time.Hour), 90*day), canary: failing,
			wantWhy: "emergency window: 20h0m left"},
		{desc: "90 days, 9 days left: emergency for 90 days begins at 9 days", rec: issued(t0.Add(-81*day), 90*day), canary: failing,
			wantWhy: "emergency window"},
		{desc: "expired: goes ahead", rec: issued(t0.Add(-91*day), 90*day), canary: failing, wantWhy: "expired"},
		{desc: "6 days, 28h left, the canary retries in 30h: goes ahead before its emergency window", rec: issued(t0.Add(-6*day+28*time.Hour), 6*day),
			canary: canaryRec(t0.Add(-10*day), nil, tp(t0.Add(30*time.Hour))), wantWhy: "before the canary's next retry"},
		{desc: "expires just after the canary's next retry, outside its emergency window: held", rec: issued(t0.Add(-5*day), 10*day),
			canary: canaryRec(t0.Add(-10*day), nil, tp(t0.Add(time.Hour))), wantHold: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			hold, why := HoldOrGo(tt.rec, tt.canary, t0)
			if hold != tt.wantHold {
				t.Fatalf("hold = %v (%q), want %v", hold, why, tt.wantHold)
			}
			if !strings.Contains(why, tt.wantWhy) {
				t.Errorf("why %q, want it to say %q", why, tt.wantWhy)
			}
		})
	}
}

// failingCanary makes the harness's CA refuse canaries only.
func (h *harness) failingCanary() {
	h.issuer.obtain = func(ctx context.Context, c *config.Certificate) (*renewdacme.Issued, error) {
		if c.Canary {
			return nil, errors.New("order: boom")
		}
		return h.issueComplete(ctx, c)
	}
}

// TestCanaryProofGatesRenewNow: after one full success, renew --now of
// another certificate orders the canary zero more times while its proof
// is fresh, and once when it is stale.
func TestCanaryProofGatesRenewNow(t *testing.T) {
	h := newHarness(t, certCfg("canary", true), certCfg("shop", false))
	h.run(Options{})
	if rec := h.state()["canary"]; rec["canary_proof"] == nil {
		t.Fatalf("no canary_proof after a full success: %v", rec)
	}
	h.issuer.reset()
	for range 4 {
		h.clock.Advance(time.Hour)
		h.run(Options{Force: true, Names: []string{"shop"}})
	}
	if got := h.issuer.called(); !slices.Equal(got, []string{"shop", "shop", "shop", "shop"}) {
		t.Fatalf("four renew --now shop ordered %v; want shop four times, the canary never", got)
	}
	h.clock.Advance(45 * time.Hour) // the proof is 49h old
	h.issuer.reset()
	h.run(Options{Force: true, Names: []string{"shop"}})
	if got := h.issuer.called(); !slices.Equal(got, []string{"canary", "shop"}) {
		t.Errorf("with a stale proof renew --now shop ordered %v; want the canary once, then shop", got)
	}
}

// TestSkipCanaryNeverOrdersIt: --skip-canary orders no canary that was not
// named, even when the canary is due itself.
func TestSkipCanaryNeverOrdersIt(t *testing.T) {
	h := newHarness(t, certCfg("canary", true), certCfg("shop", false))
	h.run(Options{Force: true, SkipCanary: true, Names: []string{"shop"}})
	if got := h.issuer.called(); !slices.Equal(got, []string{"shop"}) {
		t.Errorf("--skip-canary ordered %v; want shop alone (the canary is due: it was never issued)", got)
	}
	h.issuer.reset()
	h.failingCanary()
	res := h.run(Options{SkipCanary: true, Force: true})
	if got := h.issuer.called(); !slices.Equal(got, []string{"shop"}) {
		t.Errorf("--skip-canary --now ordered %v; want shop alone", got)
	}
	if res["shop"].Outcome != Renewed {
		t.Errorf("shop %s behind a canary that was skipped", res["shop"].Outcome)
	}
}

// TestEmergencyGoesAheadOfFailingCanary: a certificate in its emergency
// window is renewed behind a failing canary, says why, and records it; a
// certificate with time to spare stays held, with held_by and held_reason.
func TestEmergencyGoesAheadOfFailingCanary(t *testing.T) {
	short := certCfg("short", false)
	long := certCfg("long", false)
	h := newHarness(t, certCfg("canary", true), short, long)
	h.run(Options{})
	h.edit("short", func(r *store.Record) { // 20 hours left of 90 days
		r.NotBefore, r.NotAfter = tp(t0.Add(-90*day+20*time.Hour)), tp(t0.Add(20*time.Hour))
	})
	h.edit("long", func(r *store.Record) { // due, 29 days left
		r.NotBefore, r.NotAfter = tp(t0.Add(-61*day)), tp(t0.Add(29*day))
	})
	h.edit("canary", func(r *store.Record) { r.CanaryProof = tp(t0.Add(-3 * day)) })
	h.failingCanary()
	h.issuer.reset()
	res := h.run(Options{})
	if got := h.issuer.called(); !slices.Equal(got, []string{"canary", "short"}) {
		t.Fatalf("ordered %v; want the canary, then short alone", got)
	}
	if res["short"].Outcome != Renewed || res["long"].Outcome != Held {
		t.Fatalf("short %s, long %s; want renewed, held", res["short"].Outcome, res["long"].Outcome)
	}
	st := h.state()
	if st["long"]["held_by"] != "canary" || !strings.Contains(st["long"]["held_reason"].(string), "canary canary failed: order: boom") {
		t.Errorf("long: held_by %v, held_reason %v", st["long"]["held_by"], st["long"]["held_reason"])
	}
	if st["short"]["went_ahead_of"] != "canary" || !strings.Contains(st["short"]["went_ahead_reason"].(string), "emergency window") {
		t.Errorf("short: went_ahead_of %v, went_ahead_reason %v", st["short"]["went_ahead_of"], st["short"]["went_ahead_reason"])
	}
	if !h.progress.has("short ahead: not held by failing canary canary: in its emergency window") {
		t.Errorf("the exemption is not said: %v", h.progress.lines)
	}

	// While the canary waits for its retry, the hold stays on long and
	// the canary is not ordered.
	h.clock.Advance(time.Minute)
	h.issuer.reset()
	res = h.run(Options{})
	if got := h.issuer.called(); len(got) != 0 || res["long"].Outcome != Held {
		t.Errorf("while the canary waits: ordered %v, long %s; want nothing, held", got, res["long"].Outcome)
	}
}

// TestDeployRetryOrdersNoCanary: retrying a failed deploy places no order,
// so it neither orders a canary nor waits for one.
func TestDeployRetryOrdersNoCanary(t *testing.T) {
	shop := certCfg("shop", false)
	shop.Deploy = config.Deploy{Nginx: true}
	h := newHarness(t, certCfg("canary", true), shop)
	dep := &fakeDeployer{err: errors.New("nginx test failed")}
	h.r.Deployer = dep
	h.run(Options{})
	h.edit("canary", func(r *store.Record) { r.CanaryProof = tp(t0.Add(-5 * day)) }) // stale
	dep.err = nil
	for range 3 {
		h.clock.Advance(25 * time.Hour)
		h.issuer.reset()
		res := h.run(Options{})
		if got := h.issuer.called(); len(got) != 0 {
			t.Fatalf("a deploy retry ordered %v", got)
		}
		if res["shop"].Outcome != Renewed && res["shop"].Outcome != NotDue {
			t.Fatalf("shop %s: %v", res["shop"].Outcome, res["shop"].Err)
		}
	}
}

// TestShutdownKeepsRealFailures: an error that is the cancellation itself
// is "interrupted", with nothing recorded; a CA's answer that arrives
// while renewd is stopping is a failure with its backoff.
func TestShutdownKeepsRealFailures(t *testing.T) {
	for _, tt := range []struct {
		desc string
		err  error
		want Outcome
	}{
		{desc: "the cancellation itself", err: context.Canceled, want: Interrupted},
		{desc: "a rate limit answered during shutdown", err: errors.New("order: 429 urn:ietf:params:acme:error:rateLimited"), want: Failed},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			h := newHarness(t, certCfg("shop", false))
			ctx, cancel := context.WithCancel(context.Background())
			h.issuer.obtain = func(context.Context, *config.Certificate) (*renewdacme.Issued, error) {
				cancel() // SIGTERM arrives while the order is in flight
				return nil, tt.err
			}
			rep, err := h.r.Pass(ctx, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Results[0].Outcome; got != tt.want {
				t.Fatalf("outcome %s, want %s", got, tt.want)
			}
			rec, recorded := h.state()["shop"]
			if tt.want == Failed && (!recorded || rec["retry_count"] != float64(1) || rec["next_retry_time"] == nil) {
				t.Errorf("a real failure during shutdown is not recorded with its backoff: %v", rec)
			}
			if tt.want == Interrupted && recorded && rec["retry_count"] != float64(0) {
				t.Errorf("an interruption was recorded as a failure: %v", rec)
			}
		})
	}
}

// TestUnrecordedOutcomeIsSaidSo: when the records cannot be saved (a full
// disk), the line printed says so instead of "done" or "retry 1 at ...",
// and the result is a failure.
func TestUnrecordedOutcomeIsSaidSo(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	mem := store.NewMemory()
	mem.Errs = map[string]error{"SaveRecords": errors.New("no space left on device")}
	h.r.Store = mem
	res := h.run(Options{})["shop"]
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "recording the outcome failed") {
		t.Fatalf("outcome %s (%v), want a failure to record", res.Outcome, res.Err)
	}
	if h.progress.has("shop done") || !h.progress.has("shop failed: recording the outcome failed") {
		t.Errorf("progress claims what was not recorded: %v", h.progress.lines)
	}
}

// TestPruneUnconfigured: the record of a certificate whose domains file
// was removed is deleted by the next pass; its versions stay.
func TestPruneUnconfigured(t *testing.T) {
	h := newHarness(t, certCfg("shop", false), certCfg("old", false))
	h.run(Options{})
	h.r.Config.Certificates = h.r.Config.Certificates[:1] // old.yaml removed
	h.clock.Advance(day)
	rep, err := h.r.Pass(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Pruned, []string{"old"}) {
		t.Errorf("pruned %v, want [old]", rep.Pruned)
	}
	if _, ok := h.state()["old"]; ok {
		t.Error("the record of the removed certificate is still there")
	}
	if v := h.versions("old"); len(v) != 1 {
		t.Errorf("old's versions %v: its files must stay", v)
	}
	if _, ok := rep.After["old"]; ok {
		t.Error("the report still lists old")
	}
}

// TestRepairedChainIsSaid: a CA answer that needed repairs (here: the root
// sent along) is stored complete, and the repair is said in the progress
// line and kept in the record, where status and notifications read it.
func TestRepairedChainIsSaid(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	h.issuer.obtain = func(ctx context.Context, c *config.Certificate) (*renewdacme.Issued, error) {
		is, err := h.issueComplete(ctx, c)
		if err == nil {
			is.Certs = append(is.Certs, h.ca.root.Cert)
		}
		return is, err
	}
	if res := h.run(Options{})["shop"]; res.Outcome != Renewed {
		t.Fatalf("outcome %s: %v", res.Outcome, res.Err)
	}
	if !h.progress.has("shop repair: the CA's answer needed repairs") {
		t.Errorf("the repair is not said: %v", h.progress.lines)
	}
	rep, ok := h.state()["shop"]["repaired"].([]any)
	if !ok || len(rep) == 0 || !strings.Contains(fmt.Sprint(rep), "root") {
		t.Errorf("record repaired = %v", h.state()["shop"]["repaired"])
	}
}
