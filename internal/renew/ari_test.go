package renew

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/acme"

	renewdacme "github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// window is an ARI record with a selected time; next_poll an hour after t0.
func window(start, end, selected string) *store.ARI {
	a := &store.ARI{WindowStart: tp(at(start)), WindowEnd: tp(at(end)), NextPoll: tp(t0.Add(time.Hour))}
	if selected != "" {
		a.SelectedTime = tp(at(selected))
	}
	return a
}

func TestDecideARI(t *testing.T) {
	domains := []string{"shop.example.com"}
	cert := &config.Certificate{Name: "shop", Domains: domains}
	// 90 days: the lifetime rule says 2026-11-30, the emergency rule
	// (1/10 of 90 days = 9 days left) 2026-12-21.
	nb, na := at("2026-10-01T00:00:00Z"), at("2026-12-30T00:00:00Z")
	lifetimeDue, emergency := at("2026-11-30T00:00:00Z"), at("2026-12-21T00:00:00Z")
	rec := func(a *store.ARI) *store.Record {
		return &store.Record{Name: "shop", Domains: domains, NotBefore: tp(nb), NotAfter: tp(na), ARI: a}
	}
	tests := []struct {
		desc    string
		cert    *config.Certificate
		rec     *store.Record
		now     time.Time
		wantDue bool
		wantAt  time.Time
		wantWhy string
	}{
		{desc: "no ARI: the lifetime rule", rec: rec(nil), now: at("2026-11-29T00:00:00Z"),
			wantAt: lifetimeDue, wantWhy: "1/3 of lifetime left"},
		{desc: "ARI with only next_poll (CA without ARI): the lifetime rule", rec: rec(&store.ARI{NextPoll: tp(t0)}),
			now: lifetimeDue, wantDue: true, wantAt: lifetimeDue, wantWhy: "1/3 of lifetime left"},
		{desc: "window later than the lifetime rule is honoured",
			rec: rec(window("2026-12-04T00:00:00Z", "2026-12-06T00:00:00Z", "2026-12-05T06:30:00Z")),
			now: at("2026-12-01T00:00:00Z"), wantAt: at("2026-12-05T06:30:00Z"),
			wantWhy: "ARI window 2026-12-04T00:00:00Z–2026-12-06T00:00:00Z (selected 2026-12-05T06:30:00Z)"},
		{desc: "due exactly at the selected time, not at the window's start",
			rec: rec(window("2026-12-04T00:00:00Z", "2026-12-06T00:00:00Z", "2026-12-05T06:30:00Z")),
			now: at("2026-12-05T06:30:00Z"), wantDue: true, wantAt: at("2026-12-05T06:30:00Z")},
		{desc: "one second before the selected time",
			rec: rec(window("2026-12-04T00:00:00Z", "2026-12-06T00:00:00Z", "2026-12-05T06:30:00Z")),
			now: at("2026-12-05T06:29:59Z"), wantAt: at("2026-12-05T06:30:00Z")},
		{desc: "window in the past (revoked): due now, long before the lifetime rule",
			rec: rec(window("2026-10-10T11:00:00Z", "2026-10-10T11:00:01Z", "2026-10-10T11:00:00Z")),
			now: at("2026-10-12T00:00:00Z"), wantDue: true, wantAt: at("2026-10-10T11:00:00Z"),
			wantWhy: "ARI window 2026-10-10T11:00:00Z–2026-10-10T11:00:01Z (selected 2026-10-10T11:00:00Z)"},
		{desc: "window in the far future is honoured until the emergency rule",
			rec: rec(window("2027-06-01T00:00:00Z", "2027-06-03T00:00:00Z", "2027-06-02T00:00:00Z")),
			now: at("2026-12-20T00:00:00Z"), wantAt: emergency, wantWhy: "emergency: 9d0h left"},
		{desc: "window in the far future: due by the emergency rule",
			rec: rec(window("2027-06-01T00:00:00Z", "2027-06-03T00:00:00Z", "2027-06-02T00:00:00Z")),
			now: at("2026-12-29T01:30:00Z"), wantDue: true, wantAt: emergency, wantWhy: "emergency: 22h30m left"},
		{desc: "expired with a window in the future",
			rec: rec(window("2027-06-01T00:00:00Z", "2027-06-03T00:00:00Z", "2027-06-02T00:00:00Z")),
			now: na.Add(26 * time.Hour), wantDue: true, wantAt: emergency, wantWhy: "emergency: expired 26h0m ago"},
		{desc: "malformed window (end before start): the lifetime rule",
			rec: rec(window("2026-12-06T00:00:00Z", "2026-12-04T00:00:00Z", "2026-12-05T00:00:00Z")),
			now: lifetimeDue, wantDue: true, wantAt: lifetimeDue, wantWhy: "1/3 of lifetime left"},
		{desc: "malformed window (end equals start): the lifetime rule",
			rec: rec(window("2026-12-06T00:00:00Z", "2026-12-06T00:00:00Z", "2026-12-06T00:00:00Z")),
			now: t0, wantAt: lifetimeDue, wantWhy: "1/3 of lifetime left"},
		{desc: "no selected time: the window's start",
			rec: rec(window("2026-12-04T00:00:00Z", "2026-12-06T00:00:00Z", "")),
			now: t0, wantAt: at("2026-12-04T00:00:00Z")},
		{desc: "selected time outside the window (edited by hand): the window's start",
			rec: rec(window("2026-12-04T00:00:00Z", "2026-12-06T00:00:00Z", "2026-11-01T00:00:00Z")),
			now: t0, wantAt: at("2026-12-04T00:00:00Z")},
		{desc: "renew_before wins over a later window",
			cert: &config.Certificate{Name: "shop", Domains: domains, RenewBefore: 45 * day},
			rec:  rec(window("2026-12-04T00:00:00Z", "2026-12-06T00:00:00Z", "2026-12-05T00:00:00Z")),
			now:  at("2026-11-16T00:00:00Z"), wantDue: true, wantAt: at("2026-11-15T00:00:00Z"), wantWhy: "renew_before 1080h0m0s"},
		{desc: "renew_before wins over a window in the past",
			cert: &config.Certificate{Name: "shop", Domains: domains, RenewBefore: 10 * day},
			rec:  rec(window("2026-10-10T11:00:00Z", "2026-10-10T11:00:01Z", "2026-10-10T11:00:00Z")),
			now:  t0, wantAt: at("2026-12-20T00:00:00Z"), wantWhy: "renew_before 240h0m0s"},
		{desc: "renew_before wins over the emergency rule",
			cert: &config.Certificate{Name: "shop", Domains: domains, RenewBefore: 2 * day},
			rec:  rec(nil), now: at("2026-12-25T00:00:00Z"), wantAt: at("2026-12-28T00:00:00Z"), wantWhy: "renew_before 48h0m0s"},
		{desc: "a pending retry wins over a window in the past",
			rec: func() *store.Record {
				r := rec(window("2026-10-10T11:00:00Z", "2026-10-10T11:00:01Z", "2026-10-10T11:00:00Z"))
				r.RetryCount, r.NextRetryTime = 1, tp(t0.Add(time.Hour))
				return r
			}(), now: t0, wantAt: t0.Add(time.Hour), wantWhy: "waiting for retry 1"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := tt.cert
			if c == nil {
				c = cert
			}
			p := Decide(c, tt.rec, tt.now, false)
			if p.Due != tt.wantDue {
				t.Errorf("Due = %v, want %v (plan %+v)", p.Due, tt.wantDue, p)
			}
			if !p.At.Equal(tt.wantAt) {
				t.Errorf("At = %s, want %s", p.At.Format(time.RFC3339), tt.wantAt.Format(time.RFC3339))
			}
			if tt.wantWhy != "" && p.Reason != tt.wantWhy {
				t.Errorf("Reason = %q, want %q", p.Reason, tt.wantWhy)
			}
		})
	}
}

func TestEmergencyAt(t *testing.T) {
	nb := at("2026-11-01T00:00:00Z")
	tests := []struct {
		desc     string
		lifetime time.Duration
		wantLeft time.Duration
	}{
		{desc: "90 days: 1/10", lifetime: 90 * day, wantLeft: 9 * day},
		{desc: "47 days: 1/10, whole seconds", lifetime: 47 * day, wantLeft: 112*time.Hour + 48*time.Minute},
		{desc: "10 days: 24h (1/10 is exactly a day)", lifetime: 10 * day, wantLeft: day},
		{desc: "6 days (shortlived): 24h, more than 1/10", lifetime: 6 * day, wantLeft: day},
		{desc: "3 days: 24h is 1/3", lifetime: 3 * day, wantLeft: day},
		{desc: "2 days: capped at 1/3", lifetime: 2 * day, wantLeft: 16 * time.Hour},
		{desc: "10 minutes (Pebble test profile): capped at 1/3", lifetime: 10 * time.Minute, wantLeft: 200 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			na := nb.Add(tt.lifetime)
			if got := na.Sub(EmergencyAt(nb, na)); got != tt.wantLeft {
				t.Errorf("EmergencyAt leaves %s, want %s", got, tt.wantLeft)
			}
			// The lifetime rule always comes first.
			if lifetime, _ := RenewAt(nb, na, 0); !lifetime.Before(EmergencyAt(nb, na)) {
				t.Errorf("the lifetime rule (%s) is not before the emergency rule (%s)", lifetime, EmergencyAt(nb, na))
			}
		})
	}
}

func TestRecordFailureRetryCap(t *testing.T) {
	retry := config.Retry{Initial: 5 * time.Minute, Max: 24 * time.Hour}
	rateLimited := func(retryAfter string) error {
		return fmt.Errorf("order: %w", &acme.RateLimitedError{
			ProblemDetails: &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:rateLimited", HTTPStatus: 429},
			RetryAfter:     retryAfter,
		})
	}
	tests := []struct {
		desc     string
		left     time.Duration // from t0 to not_after; 0: no certificate
		failures int           // retry_count before this failure
		err      error
		jitter   float64
		want     time.Duration
	}{
		{desc: "90 days, 30 left: the cap (3d18h) is above max", left: 30 * day, failures: 19, want: 24 * time.Hour},
		{desc: "90 days, 30 left, 1st failure", left: 30 * day, want: 5 * time.Minute},
		{desc: "6 days, 72h left, 10th failure: 1/8 of what is left", left: 72 * time.Hour, failures: 9, want: 9 * time.Hour},
		{desc: "6 days, 72h left, 1st failure: the backoff is below the cap", left: 72 * time.Hour, want: 5 * time.Minute},
		{desc: "6 days, 72h left, 7th failure: 5h20m is below the cap", left: 72 * time.Hour, failures: 6, want: 320 * time.Minute},
		{desc: "6 days, 20 minutes left: never below retry.initial", left: 20 * time.Minute, failures: 9, want: 5 * time.Minute},
		{desc: "6 days, 72h left, jitter shortens the capped delay by under 10%", left: 72 * time.Hour, failures: 9, jitter: 0.5,
			want: 9*time.Hour - 27*time.Minute},
		{desc: "expired: plain retry.max", left: -time.Hour, failures: 9, want: 24 * time.Hour},
		{desc: "no certificate yet: plain retry.max", failures: 9, want: 24 * time.Hour},
		{desc: "6 days, 72h left: a Retry-After above the cap wins", left: 72 * time.Hour, failures: 9,
			err: rateLimited("43200"), want: 12 * time.Hour},
		{desc: "90 days: a Retry-After above retry.max wins", left: 30 * day, failures: 19,
			err: rateLimited("172800"), want: 48 * time.Hour},
		{desc: "6 days: a Retry-After below the cap does not shorten it", left: 72 * time.Hour, failures: 9,
			err: rateLimited("60"), want: 9 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			rec := &store.Record{Name: "shop", RetryCount: tt.failures}
			if tt.left != 0 {
				rec.NotBefore, rec.NotAfter = tp(t0.Add(tt.left-90*day)), tp(t0.Add(tt.left))
			}
			err := tt.err
			if err == nil {
				err = errors.New("order: boom")
			}
			RecordFailure(rec, err, t0, retry, tt.jitter)
			if got := rec.NextRetryTime.Sub(t0); got != tt.want {
				t.Errorf("next_retry_time in %s, want %s", got, tt.want)
			}
		})
	}
}

// A 6-day certificate renewed with half its life left, failing every time:
// the cap gives it many more tries before it expires than plain backoff
// capped at 24h would (about 9).
func TestRetryCapTriesBeforeExpiry(t *testing.T) {
	retry := config.Retry{Initial: 5 * time.Minute, Max: 24 * time.Hour}
	na := t0.Add(72 * time.Hour)
	rec := &store.Record{Name: "shop", NotBefore: tp(na.Add(-6 * day)), NotAfter: tp(na)}
	now, tries := t0, 0
	for now.Before(na) {
		tries++
		RecordFailure(rec, errors.New("boom"), now, retry, 0)
		if gap := rec.NextRetryTime.Sub(now); gap > na.Sub(now)/8 && gap > retry.Initial {
			t.Fatalf("try %d: next retry in %s with %s left", tries, gap, na.Sub(now))
		}
		now = *rec.NextRetryTime
	}
	if tries < 20 {
		t.Errorf("%d tries before expiry, want at least 20", tries)
	}
}

func TestRecordSuccessClearsARI(t *testing.T) {
	rec := &store.Record{Name: "shop", ARI: window("2026-12-04T00:00:00Z", "2026-12-06T00:00:00Z", "2026-12-05T00:00:00Z")}
	RecordSuccess(rec, t0, t0)
	if rec.ARI != nil {
		t.Errorf("ari = %+v after a renewal; the window was the previous certificate's", rec.ARI)
	}
}

func TestRecordARI(t *testing.T) {
	start, end := at("2027-01-19T16:00:00Z"), at("2027-01-21T16:00:00Z")
	info := func(s, e time.Time, retryAfter time.Duration) *renewdacme.RenewalInfo {
		return &renewdacme.RenewalInfo{WindowStart: s, WindowEnd: e, RetryAfter: retryAfter, ExplanationURL: "https://ca.example/why"}
	}
	known := func() *store.Record {
		return &store.Record{Name: "shop", ARI: &store.ARI{WindowStart: tp(start), WindowEnd: tp(end),
			SelectedTime: tp(at("2027-01-20T04:00:00Z")), NextPoll: tp(t0.Add(-time.Minute))}}
	}
	tests := []struct {
		desc     string
		rec      *store.Record
		info     *renewdacme.RenewalInfo
		err      error
		jitter   float64
		want     *store.ARI
		wantPoll time.Duration // next_poll - t0
	}{
		{desc: "first window: selected by jitter, next poll by Retry-After",
			rec: &store.Record{}, info: info(start, end, 2*time.Hour), jitter: 0.25,
			want: &store.ARI{WindowStart: tp(start), WindowEnd: tp(end), SelectedTime: tp(at("2027-01-20T04:00:00Z")),
				ExplanationURL: "https://ca.example/why"}, wantPoll: 2 * time.Hour},
		{desc: "same window: the selected time stays, whatever the jitter",
			rec: known(), info: info(start.Add(300*time.Millisecond), end, 0), jitter: 0.9,
			want: &store.ARI{WindowStart: tp(start), WindowEnd: tp(end), SelectedTime: tp(at("2027-01-20T04:00:00Z")),
				ExplanationURL: "https://ca.example/why"}, wantPoll: 6 * time.Hour},
		{desc: "moved window: drawn again",
			rec: known(), info: info(start.Add(day), end.Add(day), time.Hour), jitter: 0.5,
			want: &store.ARI{WindowStart: tp(start.Add(day)), WindowEnd: tp(end.Add(day)), SelectedTime: tp(at("2027-01-21T16:00:00Z")),
				ExplanationURL: "https://ca.example/why"}, wantPoll: time.Hour},
		{desc: "window in the past", rec: &store.Record{}, info: info(t0.Add(-time.Hour), t0.Add(-time.Hour+time.Second), time.Hour), jitter: 0.5,
			want: &store.ARI{WindowStart: tp(t0.Add(-time.Hour)), WindowEnd: tp(t0.Add(-time.Hour + time.Second)), SelectedTime: tp(t0.Add(-time.Hour)),
				ExplanationURL: "https://ca.example/why"}, wantPoll: time.Hour},
		{desc: "malformed window: stored as sent, nothing selected",
			rec: known(), info: info(end, start, 0), jitter: 0.5,
			want:     &store.ARI{WindowStart: tp(end), WindowEnd: tp(start), ExplanationURL: "https://ca.example/why"},
			wantPoll: 6 * time.Hour},
		{desc: "Retry-After under a minute is a minute", rec: &store.Record{}, info: info(start, end, time.Second),
			want:     &store.ARI{WindowStart: tp(start), WindowEnd: tp(end), SelectedTime: tp(start), ExplanationURL: "https://ca.example/why"},
			wantPoll: time.Minute},
		{desc: "Retry-After over a day is a day", rec: &store.Record{}, info: info(start, end, 7*day),
			want:     &store.ARI{WindowStart: tp(start), WindowEnd: tp(end), SelectedTime: tp(start), ExplanationURL: "https://ca.example/why"},
			wantPoll: day},
		{desc: "a CA without ARI: the old window is dropped, asked again in a day",
			rec: known(), err: fmt.Errorf("renewal info: %w", renewdacme.ErrNoARI),
			want: &store.ARI{}, wantPoll: day},
		{desc: "a failed request keeps the last window, asked again in an hour",
			rec: known(), err: errors.New("renewal info: connection refused"),
			want: &store.ARI{WindowStart: tp(start), WindowEnd: tp(end), SelectedTime: tp(at("2027-01-20T04:00:00Z"))}, wantPoll: time.Hour},
		{desc: "a failed first request", rec: &store.Record{}, err: errors.New("renewal info: HTTP 500"),
			want: &store.ARI{}, wantPoll: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			RecordARI(tt.rec, tt.info, tt.err, t0.Add(250*time.Millisecond), tt.jitter)
			got := tt.rec.ARI
			if got == nil || got.NextPoll == nil {
				t.Fatalf("ari = %+v, want a next_poll", got)
			}
			if d := got.NextPoll.Sub(t0); d != tt.wantPoll {
				t.Errorf("next_poll in %s, want %s", d, tt.wantPoll)
			}
			for _, f := range []struct {
				name      string
				got, want *time.Time
			}{
				{"window_start", got.WindowStart, tt.want.WindowStart},
				{"window_end", got.WindowEnd, tt.want.WindowEnd},
				{"selected_time", got.SelectedTime, tt.want.SelectedTime},
			} {
				if !equalTime(f.got, f.want) {
					t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
				}
				if f.got != nil && (f.got.Location() != time.UTC || f.got.Nanosecond() != 0) {
					t.Errorf("%s = %v, want whole seconds in UTC", f.name, f.got)
				}
			}
			if got.ExplanationURL != tt.want.ExplanationURL {
				t.Errorf("explanation_url = %q, want %q", got.ExplanationURL, tt.want.ExplanationURL)
			}
		})
	}
}

func TestPollARI(t *testing.T) {
	domains := []string{"shop.example.com"}
	cert := &config.Certificate{Name: "shop", Domains: domains}
	rec := func(mod func(*store.Record)) *store.Record {
		r := &store.Record{Name: "shop", Domains: domains, NotBefore: tp(t0.Add(-10 * day)), NotAfter: tp(t0.Add(80 * day))}
		if mod != nil {
			mod(r)
		}
		return r
	}
	future := func(r *store.Record) {
		r.ARI = window("2027-01-19T16:00:00Z", "2027-01-21T16:00:00Z", "2027-01-20T04:00:00Z")
	}
	tests := []struct {
		desc  string
		cert  *config.Certificate
		rec   *store.Record
		now   time.Time
		force bool
		want  bool
	}{
		{desc: "never asked", rec: rec(nil), now: t0, want: true},
		{desc: "before next_poll", rec: rec(future), now: t0.Add(time.Hour - time.Second), want: false},
		{desc: "at next_poll", rec: rec(future), now: t0.Add(time.Hour), want: true},
		{desc: "a CA without ARI before next_poll", rec: rec(func(r *store.Record) { r.ARI = &store.ARI{NextPoll: tp(t0.Add(day))} }),
			now: t0, want: false},
		{desc: "the stored window says due: asked again before ordering",
			rec: rec(func(r *store.Record) {
				r.ARI = window("2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", "2026-11-20T12:00:00Z")
			}), now: t0, want: true},
		{desc: "no certificate yet", rec: nil, now: t0, want: false},
		{desc: "renew --now", rec: rec(nil), now: t0, force: true, want: false},
		{desc: "renew_before decides alone", cert: &config.Certificate{Name: "shop", Domains: domains, RenewBefore: day},
			rec: rec(nil), now: t0, want: false},
		{desc: "waiting for a retry", rec: rec(func(r *store.Record) { r.RetryCount, r.NextRetryTime = 1, tp(t0.Add(time.Hour)) }),
			now: t0, want: false},
		{desc: "due for a retry", rec: rec(func(r *store.Record) { r.RetryCount, r.NextRetryTime = 1, tp(t0.Add(-time.Hour)) }),
			now: t0, want: false},
		{desc: "domains changed", rec: rec(func(r *store.Record) { r.Domains = []string{"old.example.com"} }), now: t0, want: false},
		{desc: "due by the emergency rule", rec: rec(nil), now: t0.Add(72 * day), want: false},
		{desc: "expired", rec: rec(nil), now: t0.Add(81 * day), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := tt.cert
			if c == nil {
				c = cert
			}
			if got := PollARI(c, tt.rec, tt.now, tt.force); got != tt.want {
				t.Errorf("PollARI = %v, want %v", got, tt.want)
			}
		})
	}
}

// ariCA is the fake issuer's ARI: one window for every certificate, which
// a test can move, or an error.
type ariCA struct {
	mu     sync.Mutex
	start  time.Time
	end    time.Time
	err    error
	window func(leaf *x509.Certificate) (time.Time, time.Time) // overrides start/end when set
}

func (a *ariCA) set(start, end time.Time, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.start, a.end, a.err = start, end, err
}

func (a *ariCA) renewalInfo(_ context.Context, leaf *x509.Certificate) (*renewdacme.RenewalInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return nil, a.err
	}
	s, e := a.start, a.end
	if a.window != nil {
		s, e = a.window(leaf)
	}
	return &renewdacme.RenewalInfo{WindowStart: s, WindowEnd: e, RetryAfter: 6 * time.Hour, ExplanationURL: "https://ca.example/ari"}, nil
}

func (h *harness) infoCalls() []string {
	h.issuer.mu.Lock()
	defer h.issuer.mu.Unlock()
	return slices.Clone(h.issuer.infoCalls)
}

func (h *harness) ari(name string) map[string]any {
	h.t.Helper()
	a, _ := h.state()[name]["ari"].(map[string]any)
	return a
}

func TestRunARI(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	ca := &ariCA{}
	h.issuer.renewalInfo = ca.renewalInfo
	jitter := 0.5
	h.r.Jitter = func() float64 { return jitter }

	if res := h.run(Options{}); res["shop"].Outcome != Renewed {
		t.Fatalf("first issuance: %+v", res["shop"])
	}
	if calls := h.infoCalls(); len(calls) != 0 {
		t.Errorf("asked for renewal information before there was a certificate: %v", calls)
	}
	h.issuer.mu.Lock()
	firstPrev := h.issuer.previous
	h.issuer.mu.Unlock()
	if len(firstPrev) != 1 || firstPrev[0] != nil {
		t.Errorf("first issuance replaced %v, want nil", firstPrev)
	}
	oldSerial := h.state()["shop"]["serial"]

	// The next run asks (ari is null after issuance) and records the
	// window, with the time selected in its middle (jitter 0.5).
	start, end := t0.Add(60*day), t0.Add(62*day)
	ca.set(start, end, nil)
	h.clock.Advance(time.Hour)
	res := h.run(Options{})["shop"]
	if res.Outcome != NotDue {
		t.Fatalf("outcome %q, plan %+v", res.Outcome, res.Plan)
	}
	if calls := h.infoCalls(); !slices.Equal(calls, []string{fmt.Sprint(oldSerial)}) {
		t.Errorf("renewal info asked for %v, want once for serial %v", calls, oldSerial)
	}
	selected := t0.Add(61 * day)
	want := map[string]any{"window_start": rfc3339(start), "window_end": rfc3339(end), "selected_time": rfc3339(selected),
		"next_poll": rfc3339(h.clock.Now().Add(6 * time.Hour)), "explanation_url": "https://ca.example/ari"}
	for k, v := range want {
		if got := h.ari("shop")[k]; got != v {
			t.Errorf("ari.%s = %v, want %v", k, got, v)
		}
	}
	if !res.Plan.At.Equal(selected) || !strings.HasPrefix(res.Plan.Reason, "ARI window ") {
		t.Errorf("plan %+v, want the selected time %s", res.Plan, rfc3339(selected))
	}
	if !h.progress.has("shop ari: CA suggests ") {
		t.Errorf("no ari step in progress: %v", h.progress.lines)
	}

	// Before next_poll: not asked.
	h.issuer.reset()
	h.clock.Advance(6*time.Hour - time.Second)
	h.run(Options{})
	if calls := h.infoCalls(); len(calls) != 0 {
		t.Errorf("asked %d times before next_poll", len(calls))
	}

	// At next_poll: asked; the same window keeps its selected time even
	// though the jitter is different now.
	jitter = 0.9
	h.clock.Advance(time.Second)
	h.run(Options{})
	if calls := h.infoCalls(); len(calls) != 1 {
		t.Errorf("asked %d times at next_poll, want 1", len(calls))
	}
	if got := h.ari("shop")["selected_time"]; got != rfc3339(selected) {
		t.Errorf("selected_time moved to %v with an unchanged window", got)
	}

	// The CA moves the window into the past (say, the certificate was
	// revoked): the next poll sees it and the certificate is renewed now,
	// long before the lifetime rule, replacing the previous certificate.
	ca.set(h.clock.Now().Add(-time.Hour), h.clock.Now().Add(-time.Hour+time.Second), nil)
	h.issuer.reset()
	h.clock.Advance(6 * time.Hour)
	if res := h.run(Options{})["shop"]; res.Outcome != Renewed || !strings.HasPrefix(res.Plan.Reason, "ARI window ") {
		t.Fatalf("window in the past: outcome %q, plan %+v", res.Outcome, res.Plan)
	}
	h.issuer.mu.Lock()
	prev := h.issuer.previous
	h.issuer.mu.Unlock()
	if len(prev) != 1 || prev[0] == nil || prev[0].SerialNumber.Text(16) != oldSerial {
		t.Errorf("the renewal replaced %v, want the previous certificate (serial %v)", prev, oldSerial)
	}
	if a := h.ari("shop"); a != nil {
		t.Errorf("ari = %v after the renewal; the window was the previous certificate's", a)
	}
}

// After a crash between storing a certificate and recording its success,
// state.json holds the new certificate with the previous one's window,
// which says "now". renewd asks the CA before ordering on it, and orders
// nothing (docs/crash-safety.md, I5).
func TestRunARIStaleWindowIsCheckedBeforeOrdering(t *testing.T) {
	h := newHarness(t, certCfg("shop", false))
	if res := h.run(Options{}); res["shop"].Outcome != Renewed {
		t.Fatalf("first issuance: %+v", res["shop"])
	}
	h.edit("shop", func(r *store.Record) {
		r.ARI = &store.ARI{WindowStart: tp(t0.Add(-2 * day)), WindowEnd: tp(t0.Add(-day)),
			SelectedTime: tp(t0.Add(-36 * time.Hour)), NextPoll: tp(t0.Add(5 * time.Hour))}
	})
	ca := &ariCA{window: func(leaf *x509.Certificate) (time.Time, time.Time) {
		return leaf.NotAfter.Add(-31 * day), leaf.NotAfter.Add(-29 * day)
	}}
	h.issuer.renewalInfo = ca.renewalInfo
	h.issuer.reset()
	h.clock.Advance(time.Hour)
	res := h.run(Options{})["shop"]
	if res.Outcome != NotDue || len(h.issuer.called()) != 0 {
		t.Errorf("outcome %q, orders %v, plan %+v; want not due after asking the CA", res.Outcome, h.issuer.called(), res.Plan)
	}
	if len(h.infoCalls()) != 1 {
		t.Errorf("asked %d times, want once", len(h.infoCalls()))
	}
}

func TestRunARIUnavailable(t *testing.T) {
	tests := []struct {
		desc     string
		err      error
		wantPoll time.Duration
	}{
		{desc: "a CA without ARI", err: renewdacme.ErrNoARI, wantPoll: day},
		{desc: "a failed request", err: errors.New("renewal info: the CA answered HTTP 503"), wantPoll: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			h := newHarness(t, certCfg("shop", false))
			if res := h.run(Options{}); res["shop"].Outcome != Renewed {
				t.Fatalf("first issuance: %+v", res["shop"])
			}
			ca := &ariCA{}
			ca.set(time.Time{}, time.Time{}, tt.err)
			h.issuer.renewalInfo = ca.renewalInfo

			h.clock.Advance(time.Hour)
			results, err := h.pass(Options{})
			if err != nil {
				t.Fatalf("Run failed on an ARI failure: %v", err)
			}
			if res := results[0]; res.Outcome != NotDue || res.Err != nil || res.Plan.Reason != "1/3 of lifetime left" {
				t.Errorf("outcome %q, err %v, plan %+v; want not due by the lifetime rule", res.Outcome, res.Err, res.Plan)
			}
			a := h.ari("shop")
			if a["next_poll"] != rfc3339(h.clock.Now().Add(tt.wantPoll)) || a["window_start"] != nil || a["selected_time"] != nil {
				t.Errorf("ari = %v, want only next_poll in %s", a, tt.wantPoll)
			}

			// Not asked again before next_poll; the lifetime rule renews.
			h.issuer.reset()
			h.clock.Advance(tt.wantPoll - time.Second)
			h.run(Options{})
			if n := len(h.infoCalls()); n != 0 {
				t.Errorf("asked %d times before next_poll", n)
			}
			h.clock.Advance(61 * day)
			if res := h.run(Options{})["shop"]; res.Outcome != Renewed {
				t.Errorf("lifetime rule: outcome %q, plan %+v", res.Outcome, res.Plan)
			}
		})
	}
}

// Certificates whose decision does not depend on ARI are not asked about.
// A run limited to a (with --now) still selects the canary b, not forced.
func TestRunARISkipsWhatIsDueAnyway(t *testing.T) {
	h := newHarness(t, certCfg("a", false), certCfg("b", true))
	if res := h.run(Options{}); res["a"].Outcome != Renewed || res["b"].Outcome != Renewed {
		t.Fatalf("first issuance: %+v", res)
	}
	ca := &ariCA{}
	ca.set(t0.Add(60*day), t0.Add(62*day), nil)
	h.issuer.renewalInfo = ca.renewalInfo

	h.issuer.reset()
	h.clock.Advance(time.Hour)
	h.run(Options{Force: true})
	if calls := h.infoCalls(); len(calls) != 0 {
		t.Errorf("renew --now asked for renewal information %v", calls)
	}
	h.issuer.reset()
	h.clock.Advance(time.Hour)
	bSerial := h.state()["b"]["serial"] // the canary is renewed in this run too
	h.run(Options{Force: true, Names: []string{"a"}})
	if calls := h.infoCalls(); !slices.Equal(calls, []string{fmt.Sprint(bSerial)}) {
		t.Errorf("renew --now a: asked for %v, want only b (%v)", calls, bSerial)
	}
}

// ARI requests are bounded by Config.Concurrency, like orders.
func TestRunARIConcurrencyBound(t *testing.T) {
	const n, limit = 6, 2
	var certs []*config.Certificate
	for i := range n {
		certs = append(certs, certCfg(fmt.Sprintf("c%d", i), false))
	}
	h := newHarness(t, certs...)
	if res := h.run(Options{}); len(res) != n {
		t.Fatalf("first issuance: %+v", res)
	}
	h.r.Config.Concurrency = limit
	var inFlight, maxInFlight atomic.Int32
	arrived, release := make(chan struct{}), make(chan struct{})
	h.issuer.renewalInfo = func(context.Context, *x509.Certificate) (*renewdacme.RenewalInfo, error) {
		cur := inFlight.Add(1)
		for m := maxInFlight.Load(); cur > m && !maxInFlight.CompareAndSwap(m, cur); m = maxInFlight.Load() {
		}
		defer inFlight.Add(-1)
		arrived <- struct{}{}
		<-release
		return nil, renewdacme.ErrNoARI
	}
	h.clock.Advance(time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := h.pass(Options{}); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	guard := time.NewTimer(30 * time.Second) // deadlock guard only
	defer guard.Stop()
	for arrivedN, released := 0, 0; released < n; released++ {
		for arrivedN-released < min(limit, n-released) {
			select {
			case <-arrived:
				arrivedN++
			case <-guard.C:
				t.Fatalf("only %d requests in flight of %d allowed (%d released): the bound serialises", arrivedN-released, limit, released)
			}
		}
		if cur := inFlight.Load(); cur > limit {
			t.Errorf("%d requests in flight, limit %d", cur, limit)
		}
		release <- struct{}{}
	}
	<-done
	if got := maxInFlight.Load(); got != limit {
		t.Errorf("at most %d requests in flight, want exactly %d", got, limit)
	}
}

func TestStatusRowsShowARI(t *testing.T) {
	cfg := &config.Config{Certificates: []*config.Certificate{{Name: "shop", Domains: []string{"shop.example.com"}}}}
	st := map[string]*store.Record{
		"shop": {Name: "shop", Domains: []string{"shop.example.com"},
			NotBefore: tp(at("2026-11-01T00:00:00Z")), NotAfter: tp(at("2027-01-30T00:00:00Z")),
			ARI: window("2027-01-05T00:00:00Z", "2027-01-07T00:00:00Z", "2027-01-06T09:15:00Z")},
	}
	row := StatusRows(cfg, st, t0)[0]
	if row.NextRenewal == nil || !row.NextRenewal.Equal(at("2027-01-06T09:15:00Z")) || row.Due {
		t.Errorf("next_renewal %v, due %v; want the selected time, not due", row.NextRenewal, row.Due)
	}
	if want := "ARI window 2027-01-05T00:00:00Z–2027-01-07T00:00:00Z (selected 2027-01-06T09:15:00Z)"; row.NextReason != want {
		t.Errorf("next_renewal_reason %q, want %q", row.NextReason, want)
	}
}
