package renew

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

func TestRenewAt(t *testing.T) {
	nb := at("2026-11-21T16:00:00Z")
	tests := []struct {
		desc        string
		lifetime    time.Duration
		renewBefore time.Duration
		want        time.Time
		wantWhy     string
	}{
		{desc: "90 days: due 60 days in, with 1/3 left", lifetime: 90 * day,
			want: at("2027-01-20T16:00:00Z"), wantWhy: "1/3 of lifetime left"},
		{desc: "6 days (shortlived): due at half", lifetime: 6 * day,
			want: at("2026-11-24T16:00:00Z"), wantWhy: "1/2 of lifetime left"},
		{desc: "160 hours (LE shortlived profile): due at half", lifetime: 160 * time.Hour,
			want: nb.Add(80 * time.Hour), wantWhy: "1/2 of lifetime left"},
		{desc: "exactly 10 days is not short: 1/3 rule", lifetime: 10 * day,
			want: nb.Add(160 * time.Hour), wantWhy: "1/3 of lifetime left"},
		{desc: "one second under 10 days is short: 1/2 rule, whole seconds", lifetime: 10*day - time.Second,
			want: nb.Add(5*day - time.Second), wantWhy: "1/2 of lifetime left"},
		{desc: "a lifetime not divisible by 3 gives whole seconds", lifetime: 90*day + time.Second,
			want: at("2027-01-20T16:00:00Z"), wantWhy: "1/3 of lifetime left"},
		{desc: "renew_before overrides the 1/3 rule", lifetime: 90 * day, renewBefore: 7 * day,
			want: at("2027-02-12T16:00:00Z"), wantWhy: "renew_before 168h0m0s"},
		{desc: "renew_before overrides the 1/2 rule", lifetime: 6 * day, renewBefore: time.Hour,
			want: nb.Add(6*day - time.Hour), wantWhy: "renew_before 1h0m0s"},
		{desc: "negative renew_before is ignored", lifetime: 90 * day, renewBefore: -time.Hour,
			want: at("2027-01-20T16:00:00Z"), wantWhy: "1/3 of lifetime left"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, why := RenewAt(nb, nb.Add(tt.lifetime), tt.renewBefore)
			if !got.Equal(tt.want) {
				t.Errorf("RenewAt = %s, want %s", got.Format(time.RFC3339), tt.want.Format(time.RFC3339))
			}
			if got.Location() != time.UTC || got.Nanosecond() != 0 {
				t.Errorf("RenewAt = %v, want whole seconds in UTC (Plan.At's contract)", got)
			}
			if why != tt.wantWhy {
				t.Errorf("reason = %q, want %q", why, tt.wantWhy)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	domains := []string{"shop.example.com", "www.shop.example.com"}
	cert := &config.Certificate{Name: "shop", Domains: domains}
	// A 90-day certificate that becomes due on 2026-11-30T00:00:00Z.
	nb, na := at("2026-10-01T00:00:00Z"), at("2026-12-30T00:00:00Z")
	due := at("2026-11-30T00:00:00Z")
	issued := func(mod func(*store.Record)) *store.Record {
		r := &store.Record{Name: "shop", Domains: domains, NotBefore: tp(nb), NotAfter: tp(na)}
		if mod != nil {
			mod(r)
		}
		return r
	}
	retryAt := at("2026-12-01T18:00:00Z")
	failedTwice := func(r *store.Record) {
		r.RetryCount, r.NextRetryTime, r.LastError = 2, tp(retryAt), "order: boom"
	}

	tests := []struct {
		desc    string
		cert    *config.Certificate
		rec     *store.Record
		now     time.Time
		force   bool
		wantDue bool
		wantAt  time.Time // zero: not checked
		wantWhy string
	}{
		{desc: "force renews a fresh certificate", rec: issued(nil), now: t0, force: true,
			wantDue: true, wantAt: t0, wantWhy: "renew --now"},
		{desc: "force ignores next_retry_time", rec: issued(failedTwice), now: t0, force: true,
			wantDue: true, wantAt: t0, wantWhy: "renew --now"},
		{desc: "force with no record", rec: nil, now: t0, force: true, wantDue: true, wantWhy: "renew --now"},
		{desc: "no record", rec: nil, now: t0, wantDue: true, wantWhy: "no certificate yet"},
		{desc: "record without not_after", rec: issued(func(r *store.Record) { r.NotAfter = nil }), now: t0,
			wantDue: true, wantWhy: "no certificate yet"},
		{desc: "record without not_before", rec: issued(func(r *store.Record) { r.NotBefore = nil }), now: t0,
			wantDue: true, wantWhy: "no certificate yet"},
		{desc: "a domain was added", rec: issued(func(r *store.Record) { r.Domains = domains[:1] }), now: t0,
			wantDue: true, wantWhy: "domains changed"},
		{desc: "a domain was replaced", rec: issued(func(r *store.Record) {
			r.Domains = []string{"shop.example.com", "api.shop.example.com"}
		}), now: t0, wantDue: true, wantWhy: "domains changed"},
		{desc: "same domains in another order and case are not a change", rec: issued(func(r *store.Record) {
			r.Domains = []string{"WWW.shop.example.com", "Shop.Example.COM"}
		}), now: t0, wantDue: false, wantAt: due, wantWhy: "1/3 of lifetime left"},
		{desc: "not due yet", rec: issued(nil), now: t0, wantDue: false, wantAt: due, wantWhy: "1/3 of lifetime left"},
		{desc: "one second before the due instant", rec: issued(nil), now: due.Add(-time.Second),
			wantDue: false, wantAt: due},
		{desc: "exactly at the due instant", rec: issued(nil), now: due, wantDue: true, wantAt: due,
			wantWhy: "1/3 of lifetime left"},
		{desc: "past the due instant", rec: issued(nil), now: due.Add(day), wantDue: true, wantAt: due},
		{desc: "renew_before moves the due instant", cert: &config.Certificate{Name: "shop", Domains: domains, RenewBefore: 45 * day},
			rec: issued(nil), now: t0, wantDue: true, wantAt: at("2026-11-15T00:00:00Z"), wantWhy: "renew_before 1080h0m0s"},
		{desc: "waiting for retry although the lifetime rule says due", rec: issued(failedTwice),
			now: retryAt.Add(-time.Second), wantDue: false, wantAt: retryAt, wantWhy: "waiting for retry 2"},
		{desc: "due exactly at next_retry_time", rec: issued(failedTwice), now: retryAt,
			wantDue: true, wantAt: retryAt, wantWhy: "retry 2"},
		{desc: "due after next_retry_time", rec: issued(failedTwice), now: retryAt.Add(time.Minute),
			wantDue: true, wantAt: retryAt, wantWhy: "retry 2"},
		{desc: "a failed renewal stays due after next_retry_time even if the lifetime rule says not yet",
			rec: issued(func(r *store.Record) { r.RetryCount, r.NextRetryTime = 1, tp(t0.Add(-time.Minute)) }),
			now: t0, wantDue: true, wantAt: t0.Add(-time.Minute), wantWhy: "retry 1"},
		// docs/policy.md: nothing renews a certificate before its
		// next_retry_time except renew --now. A certificate whose first
		// order failed has a record with retry fields but no dates.
		{desc: "first issuance failed: waits for next_retry_time",
			rec: &store.Record{Name: "shop", Domains: domains, RetryCount: 1, NextRetryTime: tp(t0.Add(5 * time.Minute)), LastError: "boom"},
			now: t0, wantDue: false, wantAt: t0.Add(5 * time.Minute)},
		// Same rule: the record keeps the old domains after a failed
		// renewal for new ones, so "domains changed" must not bypass it.
		{desc: "domains changed and that renewal failed: waits for next_retry_time",
			rec: issued(func(r *store.Record) {
				r.Domains = domains[:1]
				r.RetryCount, r.NextRetryTime = 1, tp(t0.Add(5*time.Minute))
			}),
			now: t0, wantDue: false, wantAt: t0.Add(5 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := tt.cert
			if c == nil {
				c = cert
			}
			p := Decide(c, tt.rec, tt.now, tt.force)
			if p.Due != tt.wantDue {
				t.Errorf("Due = %v, want %v (plan %+v)", p.Due, tt.wantDue, p)
			}
			if !tt.wantAt.IsZero() && !p.At.Equal(tt.wantAt) {
				t.Errorf("At = %s, want %s", p.At.Format(time.RFC3339), tt.wantAt.Format(time.RFC3339))
			}
			if tt.wantWhy != "" && p.Reason != tt.wantWhy {
				t.Errorf("Reason = %q, want %q", p.Reason, tt.wantWhy)
			}
		})
	}
}

func TestDecideDoesNotChangeItsInputs(t *testing.T) {
	cert := &config.Certificate{Name: "shop", Domains: []string{"b.example.com", "A.example.com"}}
	rec := &store.Record{Domains: []string{"a.example.com", "B.example.com"}, NotBefore: tp(t0), NotAfter: tp(t0.Add(90 * day))}
	Decide(cert, rec, t0, false)
	if cert.Domains[0] != "b.example.com" || cert.Domains[1] != "A.example.com" ||
		rec.Domains[0] != "a.example.com" || rec.Domains[1] != "B.example.com" {
		t.Errorf("Decide reordered or lower-cased its inputs: cert %v, record %v", cert.Domains, rec.Domains)
	}
}

func TestRetryDelay(t *testing.T) {
	const initial, maxDelay = 5 * time.Minute, 24 * time.Hour
	tests := []struct {
		desc     string
		failures int
		initial  time.Duration
		max      time.Duration
		jitter   float64
		want     time.Duration
	}{
		{desc: "1st failure: initial", failures: 1, want: 5 * time.Minute},
		{desc: "2nd failure doubles", failures: 2, want: 10 * time.Minute},
		{desc: "3rd failure", failures: 3, want: 20 * time.Minute},
		{desc: "4th failure", failures: 4, want: 40 * time.Minute},
		{desc: "9th failure, just under max", failures: 9, want: 1280 * time.Minute},
		{desc: "10th failure is capped at max", failures: 10, want: 24 * time.Hour},
		{desc: "100th failure is capped at max", failures: 100, want: 24 * time.Hour},
		{desc: "huge failure count does not overflow", failures: math.MaxInt, want: 24 * time.Hour},
		{desc: "0 failures counts as 1", failures: 0, want: 5 * time.Minute},
		{desc: "negative failures count as 1", failures: -7, want: 5 * time.Minute},
		{desc: "max equal to initial", failures: 5, initial: time.Hour, max: time.Hour, want: time.Hour},
		{desc: "jitter 0.999 shortens by just under 10%", failures: 1, jitter: 0.999,
			want: 5*time.Minute - time.Duration(float64(5*time.Minute)*0.1*0.999)},
		{desc: "jitter 0.999 at the cap stays below max", failures: 50, jitter: 0.999,
			want: 24*time.Hour - time.Duration(float64(24*time.Hour)*0.1*0.999)},
		// config.Retry puts no upper bound on max, and time.ParseDuration
		// accepts up to ~292 years, so doubling must not wrap around.
		{desc: "doubling near the int64 limit does not wrap", failures: 100,
			max: time.Duration(math.MaxInt64), want: time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			in, mx := tt.initial, tt.max
			if in == 0 {
				in = initial
			}
			if mx == 0 {
				mx = maxDelay
			}
			if got := RetryDelay(tt.failures, in, mx, tt.jitter); got != tt.want {
				t.Errorf("RetryDelay(%d, %s, %s, %v) = %s, want %s", tt.failures, in, mx, tt.jitter, got, tt.want)
			}
		})
	}
}

// TestRetryDelayBounds checks the contract for every failure count and a
// spread of jitters: never above max, never more than 10% below the
// un-jittered delay, never below the previous failure's un-jittered delay's
// 90%, and never zero.
func TestRetryDelayBounds(t *testing.T) {
	const initial, maxDelay = 5 * time.Minute, 24 * time.Hour
	nominal := initial
	for n := 1; n <= 80; n++ {
		if n > 1 {
			nominal = min(2*nominal, maxDelay)
		}
		for _, j := range []float64{0, 0.25, 0.5, 0.999, math.Nextafter(1, 0)} {
			got := RetryDelay(n, initial, maxDelay, j)
			if got > maxDelay || got > nominal {
				t.Fatalf("RetryDelay(%d, jitter %v) = %s, above nominal %s or max %s", n, j, got, nominal, maxDelay)
			}
			if float64(got) < 0.9*float64(nominal) {
				t.Fatalf("RetryDelay(%d, jitter %v) = %s, more than 10%% below %s", n, j, got, nominal)
			}
		}
		if got := RetryDelay(n, initial, maxDelay, 0); got != nominal {
			t.Fatalf("RetryDelay(%d, jitter 0) = %s, want %s", n, got, nominal)
		}
	}
}

func TestRecordFailure(t *testing.T) {
	retry := config.Retry{Initial: 5 * time.Minute, Max: 24 * time.Hour}
	renewed := at("2026-09-01T00:00:00Z")
	rec := &store.Record{Name: "shop", Serial: "0a", NotAfter: tp(t0.Add(day)), RenewTime: tp(renewed)}

	RecordFailure(rec, errors.New("order: 429 rate limited"), t0, retry, 0)
	if rec.RetryCount != 1 {
		t.Errorf("retry_count = %d, want 1", rec.RetryCount)
	}
	if rec.LastFailure == nil || !rec.LastFailure.Equal(t0) {
		t.Errorf("last_failure = %v, want %s", rec.LastFailure, t0)
	}
	if want := t0.Add(5 * time.Minute); rec.NextRetryTime == nil || !rec.NextRetryTime.Equal(want) {
		t.Errorf("next_retry_time = %v, want %s", rec.NextRetryTime, want)
	}
	if rec.LastError != "order: 429 rate limited" {
		t.Errorf("last_error = %q", rec.LastError)
	}

	t1 := t0.Add(6 * time.Minute)
	RecordFailure(rec, errors.New("second"), t1, retry, 0)
	if rec.RetryCount != 2 {
		t.Errorf("retry_count = %d, want 2", rec.RetryCount)
	}
	if want := t1.Add(10 * time.Minute); !rec.NextRetryTime.Equal(want) {
		t.Errorf("after the 2nd failure next_retry_time = %s, want %s (doubled)", rec.NextRetryTime, want)
	}
	if rec.LastError != "second" || !rec.LastFailure.Equal(t1) {
		t.Errorf("last_error %q, last_failure %s: not updated", rec.LastError, rec.LastFailure)
	}
	if rec.Serial != "0a" || !rec.RenewTime.Equal(renewed) || !rec.NotAfter.Equal(t0.Add(day)) {
		t.Errorf("RecordFailure touched the certificate fields: %+v", rec)
	}

	// Jitter shortens the delay by at most 10%.
	RecordFailure(rec, errors.New("third"), t1, retry, 0.999)
	if d := rec.NextRetryTime.Sub(t1); d > 20*time.Minute || d < 18*time.Minute {
		t.Errorf("3rd failure with jitter: delay %s, want in [18m, 20m]", d)
	}
}

func TestRecordSuccess(t *testing.T) {
	stored := t0.Add(-2 * time.Minute)
	for _, tt := range []struct {
		desc      string
		renewed   time.Time
		renewTime *time.Time
		want      time.Time
	}{
		{desc: "a new version: renew_time is when it was stored", renewed: stored, renewTime: tp(t0.Add(-60 * day)), want: stored},
		{desc: "a deploy of a stored version keeps renew_time", renewTime: tp(t0.Add(-60 * day)), want: t0.Add(-60 * day)},
		{desc: "a deploy of an adopted version without renew_time: now", want: t0},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			rec := &store.Record{
				Name: "shop", Serial: "0a", RetryCount: 4, LastError: "boom", RenewTime: tt.renewTime,
				NextRetryTime: tp(t0.Add(time.Hour)), LastAttempt: tp(t0.Add(-time.Hour)),
			}
			RecordSuccess(rec, tt.renewed, t0)
			if rec.RetryCount != 0 || rec.NextRetryTime != nil || rec.LastError != "" {
				t.Errorf("failure fields not reset: retry_count %d, next_retry_time %v, last_error %q",
					rec.RetryCount, rec.NextRetryTime, rec.LastError)
			}
			if rec.RenewTime == nil || !rec.RenewTime.Equal(tt.want) {
				t.Errorf("renew_time %v, want %s", rec.RenewTime, tt.want)
			}
			if rec.Serial != "0a" || rec.Name != "shop" || !rec.LastAttempt.Equal(t0.Add(-time.Hour)) {
				t.Errorf("RecordSuccess touched other fields: %+v", rec)
			}
		})
	}
}
