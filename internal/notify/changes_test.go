package notify

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/store"
)

// Fixed dates: "now" is the end of the run being looked at.
var (
	now      = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	lastRun  = now.Add(-time.Hour)
	issued   = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	expires  = issued.Add(90 * 24 * time.Hour) // 2026-11-30: 10 days after now
	renewed  = now.Add(-10 * time.Minute)
	newNA    = renewed.Add(90 * 24 * time.Hour)
	retryAt  = now.Add(20 * time.Minute)
	twoWeeks = 14 * 24 * time.Hour
	shortNA  = now.Add(36*time.Hour - 30*time.Minute)
)

const (
	acmeErr  = "acme: error: 403 :: urn:ietf:params:acme:error:unauthorized :: Invalid response from http://shop.example.com/.well-known/acme-challenge/x: 404"
	chainErr = "after the reload nginx does not serve the new certificate with a complete chain: shop.example.com at 127.0.0.1:443: served chain: chain incomplete: no certificate for issuer \"CN=R12\" of \"CN=shop.example.com\" (no AIA caIssuers URL in the certificate)"
)

func tp(t time.Time) *time.Time { return &t }

// rec is a healthy record of certificate name issued on issued.
func rec(name string, mods ...func(*store.Record)) *store.Record {
	r := &store.Record{Name: name, Domains: []string{name + ".example.com"}, NotBefore: tp(issued), NotAfter: tp(expires), RenewTime: tp(issued)}
	for _, m := range mods {
		m(r)
	}
	return r
}

func failing(n int, msg string) func(*store.Record) {
	return func(r *store.Record) {
		r.RetryCount, r.LastError, r.NextRetryTime, r.LastAttempt = n, msg, tp(retryAt), tp(now.Add(-time.Minute))
	}
}

// servedBad is what the renewer records when the served-chain check after
// a deploy found the chain incomplete, at the failure's time.
func servedBad(r *store.Record) {
	r.LastFailure = r.LastAttempt
	r.ServedChain, r.ServedCheckedAt = "incomplete", r.LastAttempt
}

func heldBy(canary, why string) func(*store.Record) {
	return func(r *store.Record) { r.HeldBy, r.HeldReason = canary, why }
}

func valid(nb, na time.Time) func(*store.Record) {
	return func(r *store.Record) { r.NotBefore, r.NotAfter = tp(nb), tp(na) }
}

func attempted(at time.Time) func(*store.Record) {
	return func(r *store.Record) { r.LastAttempt = tp(at) }
}

func snap(at time.Time, recs ...*store.Record) Snapshot {
	s := Snapshot{At: at, Records: map[string]*store.Record{}}
	for _, r := range recs {
		s.Records[r.Name] = r
	}
	return s
}

func TestChanges(t *testing.T) {
	tests := []struct {
		desc       string
		prev, next Snapshot
		within     time.Duration
		want       []Event
	}{
		{
			desc: "nothing changed",
			prev: snap(lastRun, rec("shop")), next: snap(now, rec("shop")), within: twoWeeks,
		},
		{
			desc: "renewal failed",
			prev: snap(lastRun, rec("shop")), next: snap(now, rec("shop", failing(1, acmeErr))),
			want: []Event{{Kind: RenewalFailed, Certificate: "shop", Domains: []string{"shop.example.com"}, Error: acmeErr,
				RetryCount: 1, NextRetry: tp(retryAt), NotAfter: tp(expires), At: now}},
		},
		{
			desc: "the same failure again: nothing",
			prev: snap(lastRun, rec("shop", failing(1, acmeErr))), next: snap(now, rec("shop", failing(2, acmeErr))),
		},
		{
			desc: "another failure text, still failing: nothing",
			prev: snap(lastRun, rec("shop", failing(1, acmeErr))), next: snap(now, rec("shop", failing(2, "dial tcp: i/o timeout"))),
		},
		{
			desc: "first issuance failed",
			prev: snap(lastRun), next: snap(now, &store.Record{Name: "new", Domains: []string{"new.example.com"}, RetryCount: 1, LastError: acmeErr, NextRetryTime: tp(retryAt)}),
			want: []Event{{Kind: RenewalFailed, Certificate: "new", Domains: []string{"new.example.com"}, Error: acmeErr, RetryCount: 1, NextRetry: tp(retryAt), At: now}},
		},
		{
			desc: "recovered",
			prev: snap(lastRun, rec("shop", failing(3, acmeErr))),
			next: snap(now, rec("shop", valid(renewed, newNA), func(r *store.Record) { r.RenewTime = tp(renewed) })),
			want: []Event{{Kind: Recovered, Certificate: "shop", Domains: []string{"shop.example.com"}, RetryCount: 3, NotAfter: tp(newNA), At: now}},
		},
		{
			desc: "served chain incomplete",
			prev: snap(lastRun, rec("shop")), next: snap(now, rec("shop", failing(1, chainErr), servedBad)),
			want: []Event{{Kind: ChainIncomplete, Certificate: "shop", Domains: []string{"shop.example.com"}, Error: chainErr,
				RetryCount: 1, NextRetry: tp(retryAt), NotAfter: tp(expires), At: now}},
		},
		{
			desc: "a failure that turns into an incomplete chain is a new state",
			prev: snap(lastRun, rec("shop", failing(1, acmeErr))), next: snap(now, rec("shop", failing(2, chainErr), servedBad)),
			want: []Event{{Kind: ChainIncomplete, Certificate: "shop", Domains: []string{"shop.example.com"}, Error: chainErr,
				RetryCount: 2, NextRetry: tp(retryAt), NotAfter: tp(expires), At: now}},
		},
		{
			desc: "a later failure of another kind after an incomplete chain is a new state",
			prev: snap(lastRun, rec("shop", failing(1, chainErr), servedBad)),
			next: snap(now, rec("shop", failing(1, chainErr), servedBad, failing(2, acmeErr), func(r *store.Record) { r.LastAttempt, r.LastFailure = tp(now), tp(now) })),
			want: []Event{{Kind: RenewalFailed, Certificate: "shop", Domains: []string{"shop.example.com"}, Error: acmeErr,
				RetryCount: 2, NextRetry: tp(retryAt), NotAfter: tp(expires), At: now}},
		},
		{
			desc: "canary failed and held the others",
			prev: snap(lastRun, rec("canary"), rec("shop"), rec("api"), rec("idle")),
			next: snap(now, rec("canary", failing(1, acmeErr)), rec("shop", heldBy("canary", "canary canary failed: "+acmeErr)),
				rec("api", heldBy("canary", "canary canary failed: "+acmeErr)), rec("idle")),
			want: []Event{
				{Kind: RenewalFailed, Certificate: "canary", Domains: []string{"canary.example.com"}, Error: acmeErr, RetryCount: 1, NextRetry: tp(retryAt), NotAfter: tp(expires), At: now},
				{Kind: CanaryFailed, Certificate: "canary", Domains: []string{"canary.example.com"}, Error: "canary canary failed: " + acmeErr,
					RetryCount: 1, NextRetry: tp(retryAt), NotAfter: tp(expires), Held: []string{"api", "shop"}, At: now},
			},
		},
		{
			desc: "still held while the canary waits: nothing",
			prev: snap(lastRun, rec("canary", failing(1, acmeErr)), rec("shop", heldBy("canary", "canary canary failed: "+acmeErr))),
			next: snap(now, rec("canary", failing(1, acmeErr)), rec("shop", heldBy("canary", "canary canary is waiting for retry at 2026-11-20T12:20:00Z after: "+acmeErr))),
		},
		{
			desc: "one more certificate held: only it is listed",
			prev: snap(lastRun, rec("canary", failing(1, acmeErr)), rec("shop", heldBy("canary", "canary canary failed: x")), rec("api")),
			next: snap(now, rec("canary", failing(1, acmeErr)), rec("shop", heldBy("canary", "canary canary is waiting for retry")), rec("api", heldBy("canary", "canary canary is waiting for retry"))),
			want: []Event{{Kind: CanaryFailed, Certificate: "canary", Domains: []string{"canary.example.com"}, Error: "canary canary is waiting for retry",
				RetryCount: 1, NextRetry: tp(retryAt), NotAfter: tp(expires), Held: []string{"api"}, At: now}},
		},
		{
			desc: "held by a cause that names no certificate",
			prev: snap(lastRun, rec("shop")), next: snap(now, rec("shop", heldBy("gone", "canary gone failed: x"))),
			want: []Event{{Kind: CanaryFailed, Certificate: "gone", Error: "canary gone failed: x", Held: []string{"shop"}, At: now}},
		},
		{
			desc: "a new version from a CA answer that needed repairs",
			prev: snap(lastRun, rec("shop")),
			next: snap(now, rec("shop", func(r *store.Record) {
				r.Version, r.Repaired = "v2", []string{"fetched the intermediate through AIA", "dropped the root"}
			})),
			want: []Event{{Kind: ChainRepaired, Certificate: "shop", Domains: []string{"shop.example.com"},
				Error: "fetched the intermediate through AIA; dropped the root", NotAfter: tp(expires), At: now}},
		},
		{
			desc: "the same repaired version again: nothing",
			prev: snap(lastRun, rec("shop", func(r *store.Record) { r.Version, r.Repaired = "v2", []string{"dropped the root"} })),
			next: snap(now, rec("shop", func(r *store.Record) { r.Version, r.Repaired = "v2", []string{"dropped the root"} })),
		},
		{
			desc: "renewed despite a failing canary",
			prev: snap(lastRun, rec("canary", failing(1, acmeErr)), rec("shop")),
			next: snap(now, rec("canary", failing(1, acmeErr)), rec("shop", func(r *store.Record) {
				r.WentAheadOf, r.WentAheadReason, r.LastAttempt = "canary", "in its emergency window: 20h0m left", tp(now)
			})),
			want: []Event{{Kind: CanaryBypassed, Certificate: "shop", Domains: []string{"shop.example.com"}, Canary: "canary",
				Error: "in its emergency window: 20h0m left", NotAfter: tp(expires), At: now}},
		},
		{
			desc: "a retry ahead of the same failing canary: nothing",
			prev: snap(lastRun, rec("canary", failing(2, acmeErr)), rec("shop", func(r *store.Record) {
				r.WentAheadOf, r.WentAheadReason, r.LastAttempt, r.RetryCount = "canary", "in its emergency window: 20h0m left", tp(lastRun), 1
			})),
			next: snap(now, rec("canary", failing(2, acmeErr)), rec("shop", func(r *store.Record) {
				r.WentAheadOf, r.WentAheadReason, r.LastAttempt, r.RetryCount = "canary", "in its emergency window: 18h0m left", tp(now), 1
			})),
		},
		{
			desc: "ahead of another canary than last time",
			prev: snap(lastRun, rec("canary", failing(2, acmeErr)), rec("shop", func(r *store.Record) {
				r.WentAheadOf, r.LastAttempt = "canary", tp(lastRun)
			})),
			next: snap(now, rec("canary", failing(2, acmeErr)), rec("shop", func(r *store.Record) {
				r.WentAheadOf, r.WentAheadReason, r.LastAttempt = "canary2", "in its emergency window: 18h0m left", tp(now)
			})),
			want: []Event{{Kind: CanaryBypassed, Certificate: "shop", Domains: []string{"shop.example.com"}, Canary: "canary2",
				Error: "in its emergency window: 18h0m left", NotAfter: tp(expires), At: now}},
		},
		{
			desc: "entered the expiry window since the last run",
			prev: snap(lastRun, rec("shop", failing(4, acmeErr))), next: snap(now, rec("shop", failing(5, acmeErr))),
			within: expires.Sub(now) + 30*time.Minute, // the window opened at 11:30, between the runs
			want: []Event{{Kind: Expiring, Certificate: "shop", Domains: []string{"shop.example.com"}, Error: acmeErr,
				RetryCount: 5, NextRetry: tp(retryAt), NotAfter: tp(expires), At: now}},
		},
		{
			desc: "already in the window at the last run: nothing",
			prev: snap(lastRun, rec("shop")), next: snap(now, rec("shop")), within: twoWeeks,
		},
		{
			desc: "not yet in the window",
			prev: snap(lastRun, rec("shop")), next: snap(now, rec("shop")), within: 5 * 24 * time.Hour,
		},
		{
			desc: "first run after a start: the last attempt was before the window",
			prev: snap(time.Time{}, rec("shop", attempted(now.Add(-5*24*time.Hour)))), next: snap(now, rec("shop", attempted(now.Add(-5*24*time.Hour)))),
			within: 14 * 24 * time.Hour, // opened 4 days ago
			want:   []Event{{Kind: Expiring, Certificate: "shop", Domains: []string{"shop.example.com"}, NotAfter: tp(expires), At: now}},
		},
		{
			desc: "first run after a start: attempted inside the window, so it was announced then",
			prev: snap(time.Time{}, rec("shop", failing(9, acmeErr))), next: snap(now, rec("shop", failing(10, acmeErr))), within: twoWeeks,
		},
		{
			desc: "first run after a start, never attempted",
			prev: snap(time.Time{}, rec("shop")), next: snap(now, rec("shop")), within: twoWeeks,
			want: []Event{{Kind: Expiring, Certificate: "shop", Domains: []string{"shop.example.com"}, NotAfter: tp(expires), At: now}},
		},
		{
			desc: "expiry warning off",
			prev: snap(time.Time{}, rec("shop")), next: snap(now, rec("shop")),
		},
		{
			desc: "a short-lived certificate is not expiring at issuance",
			prev: snap(time.Time{}), next: snap(now, rec("short", valid(now.Add(-time.Hour), now.Add(6*24*time.Hour-time.Hour)))), within: twoWeeks,
		},
		{
			desc: "a short-lived certificate warns in its last quarter",
			// 6 days of lifetime: the window is its last 36h, opened at 11:30.
			prev: snap(lastRun, rec("short", valid(shortNA.Add(-6*24*time.Hour), shortNA))),
			next: snap(now, rec("short", valid(shortNA.Add(-6*24*time.Hour), shortNA))), within: twoWeeks,
			want: []Event{{Kind: Expiring, Certificate: "short", Domains: []string{"short.example.com"}, NotAfter: tp(shortNA), At: now}},
		},
		{
			desc: "a certificate removed from the configuration",
			prev: snap(lastRun, rec("gone", failing(2, acmeErr))), next: snap(now), within: twoWeeks,
		},
		{
			desc: "sorted by certificate, then kind",
			prev: snap(time.Time{}, rec("b", failing(1, acmeErr)), rec("a")),
			next: snap(now, rec("b", valid(renewed, newNA)), rec("a", failing(1, acmeErr))), within: twoWeeks,
			want: []Event{
				{Kind: RenewalFailed, Certificate: "a", Domains: []string{"a.example.com"}, Error: acmeErr, RetryCount: 1, NextRetry: tp(retryAt), NotAfter: tp(expires), At: now},
				{Kind: Expiring, Certificate: "a", Domains: []string{"a.example.com"}, Error: acmeErr, RetryCount: 1, NextRetry: tp(retryAt), NotAfter: tp(expires), At: now},
				{Kind: Recovered, Certificate: "b", Domains: []string{"b.example.com"}, RetryCount: 1, NotAfter: tp(newNA), At: now},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := Changes(tt.prev, tt.next, tt.within)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Changes:\ngot  %s\nwant %s", js(got), js(tt.want))
			}
		})
	}
}

// TestChangesOncePerStateChange runs a story through Changes the way the
// daemon does, each run's after-snapshot becoming the next one's before,
// and counts the messages.
func TestChangesOncePerStateChange(t *testing.T) {
	at := func(h int) time.Time { return now.Add(time.Duration(h) * time.Hour) }
	runs := []*store.Record{
		rec("shop"),
		rec("shop", failing(1, acmeErr)),
		rec("shop", failing(2, acmeErr)),
		rec("shop", failing(3, acmeErr)),
		rec("shop", valid(renewed, newNA)),
		rec("shop", valid(renewed, newNA)),
	}
	want := [][]Kind{nil, {RenewalFailed}, nil, nil, {Recovered}, nil}
	prev := snap(time.Time{}, runs[0])
	for i, r := range runs {
		next := snap(at(i), r)
		var kinds []Kind
		for _, e := range Changes(prev, next, 0) {
			kinds = append(kinds, e.Kind)
		}
		if !reflect.DeepEqual(kinds, want[i]) {
			t.Errorf("run %d: events %v, want %v", i, kinds, want[i])
		}
		prev = next
	}
}

func TestChangesDoesNotAlias(t *testing.T) {
	r := rec("shop", failing(1, acmeErr))
	ev := Changes(snap(lastRun), snap(now, r), 0)
	ev[0].Domains[0] = "changed"
	*ev[0].NotAfter = time.Time{}
	if r.Domains[0] != "shop.example.com" || !r.NotAfter.Equal(expires) {
		t.Errorf("the event shares memory with the record: %+v", r)
	}
}

func js(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
