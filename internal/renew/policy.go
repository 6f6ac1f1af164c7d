// Package renew decides which certificates are due and runs the renewal
// pipeline for them: order, complete and check the chain, store, record.
// The decisions (policy.go) are pure functions of the state and now; the
// pipeline (renewer.go) does the I/O.
package renew

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/secret"
	"github.com/renewd/renewd/internal/store"
)

// shortLifetime is where the policy switches from renewing with 1/3 of the
// lifetime left to 1/2: short-lived certificates (Let's Encrypt's 6-day
// profile) need room for several retries before they expire.
const shortLifetime = 10 * 24 * time.Hour

// Plan is the decision for one certificate at one moment.
type Plan struct {
	Due bool
	// DeployOnly says the stored certificate is fine but was never
	// deployed (a failed reload, a crash after storing): deploy it, do not
	// order a new one.
	DeployOnly bool
	// At is when the certificate becomes due (or became due), whole
	// seconds, UTC. Zero when it is due because there is nothing to renew
	// from.
	At time.Time
	// Reason says why, for a person: "no certificate yet", "1/3 of
	// lifetime left", "ARI window <start>–<end> (selected <time>)",
	// "emergency: 20h0m left", "waiting for retry 2", ... Retries are
	// numbered by retry_count: after the first failure the next attempt
	// is "retry 1".
	Reason string
}

// RenewAt is when a certificate with this validity should be renewed:
// renewBefore before expiry when set, otherwise when 1/3 of its lifetime is
// left (1/2 for lifetimes under 10 days), the rule Let's Encrypt and certbot
// use.
func RenewAt(notBefore, notAfter time.Time, renewBefore time.Duration) (time.Time, string) {
	if renewBefore > 0 {
		return notAfter.Add(-renewBefore).UTC().Truncate(time.Second), fmt.Sprintf("renew_before %s", renewBefore)
	}
	lifetime := notAfter.Sub(notBefore)
	if lifetime < shortLifetime {
		return notAfter.Add(-lifetime / 2).UTC().Truncate(time.Second), "1/2 of lifetime left"
	}
	return notAfter.Add(-lifetime / 3).UTC().Truncate(time.Second), "1/3 of lifetime left"
}

// Decide says whether cert is due at now given its record (nil when renewd
// has never issued it). force is renew --now: due regardless of the
// schedule and of next_retry_time. Otherwise nothing is due before its
// next_retry_time, whatever the reason it would be due.
//
// The schedule, in order of precedence:
//   - renew_before, when set, is the operator's explicit choice and the
//     whole schedule: neither ARI nor the emergency rule applies;
//   - otherwise the selected time inside the CA's ARI window (RFC 9773),
//     when the record holds a well-formed one (start before end); a window
//     in the past means now, one in the far future is honoured;
//   - otherwise the lifetime rule (RenewAt);
//   - whichever of those comes first and the emergency rule (EmergencyAt),
//     so that no ARI window can let a certificate run out.
func Decide(cert *config.Certificate, rec *store.Record, now time.Time, force bool) Plan {
	if p, ok := decideFirst(cert, rec, now, force); ok {
		return p
	}
	return schedule(cert, rec, now)
}

// decideFirst is the part of Decide that comes before the schedule: ok is
// false when the schedule decides. The record has both dates then.
func decideFirst(cert *config.Certificate, rec *store.Record, now time.Time, force bool) (p Plan, ok bool) {
	if force {
		return Plan{Due: true, At: now.UTC().Truncate(time.Second), Reason: "renew --now"}, true
	}
	if rec != nil && rec.NextRetryTime != nil && now.Before(*rec.NextRetryTime) {
		return Plan{At: *rec.NextRetryTime, Reason: fmt.Sprintf("waiting for retry %d", rec.RetryCount)}, true
	}
	switch {
	case rec == nil || rec.NotAfter == nil || rec.NotBefore == nil:
		return Plan{Due: true, Reason: "no certificate yet"}, true
	case !sameDomains(cert.Domains, rec.Domains):
		return Plan{Due: true, Reason: "domains changed"}, true
	case rec.RevokedAt != nil:
		// renewd revoke: nginx serves a revoked certificate until then.
		return Plan{Due: true, At: *rec.RevokedAt, Reason: "revoked"}, true
	case cert.Deploy.Enabled() && rec.Version != "" && rec.DeployedVersion != rec.Version && now.Before(*rec.NotAfter):
		return Plan{Due: true, DeployOnly: true, Reason: "deploy pending for version " + rec.Version}, true
	case rec.NextRetryTime != nil:
		// A failed renewal stays due once its retry time has passed.
		return Plan{Due: true, At: *rec.NextRetryTime, Reason: fmt.Sprintf("retry %d", rec.RetryCount)}, true
	}
	return Plan{}, false
}

// schedule is when a certificate with both dates is due: see Decide.
func schedule(cert *config.Certificate, rec *store.Record, now time.Time) Plan {
	nb, na := *rec.NotBefore, *rec.NotAfter
	if cert.RenewBefore > 0 {
		at, why := RenewAt(nb, na, cert.RenewBefore)
		return Plan{Due: !now.Before(at), At: at, Reason: why}
	}
	at, why := RenewAt(nb, na, 0)
	at = Spread(cert, rec, at)
	if start, end, sel, ok := ariWindow(rec.ARI); ok {
		at = sel
		why = fmt.Sprintf("ARI window %s–%s (selected %s)", start.Format(time.RFC3339), end.Format(time.RFC3339), sel.Format(time.RFC3339))
	}
	if e := EmergencyAt(nb, na); e.Before(at) {
		at, why = e, "emergency: "+timeLeft(na.Sub(latest(now, e)))
	}
	return Plan{Due: !now.Before(at), At: at, Reason: why}
}

// ariWindow returns the ARI window of a record and the time selected in
// it, whole seconds in UTC; ok is false when there is no window or it is
// malformed (end not after start: RFC 9773 section 4.2 says to treat that
// as no answer). A selected time missing or outside the window (the record
// edited by hand) counts as the window's start.
func ariWindow(a *store.ARI) (start, end, selected time.Time, ok bool) {
	if a == nil || a.WindowStart == nil || a.WindowEnd == nil || !a.WindowStart.Before(*a.WindowEnd) {
		return time.Time{}, time.Time{}, time.Time{}, false
	}
	start, end = a.WindowStart.UTC().Truncate(time.Second), a.WindowEnd.UTC().Truncate(time.Second)
	selected = start
	if s := a.SelectedTime; s != nil && !s.Before(*a.WindowStart) && !s.After(*a.WindowEnd) {
		selected = s.UTC().Truncate(time.Second)
	}
	return start, end, selected, true
}

// EmergencyAt is when a certificate is due whatever its ARI window says:
// when less than 1/10 of its lifetime is left, or 24 hours if that is
// more, but never more than 1/3 of the lifetime (so that a certificate
// valid for less than 3 days is not due from the moment it is issued).
// For 90 days that is 9 days before expiry; from 3 to 10 days, 24 hours.
// The lifetime rule always comes first, so this only matters under ARI.
func EmergencyAt(notBefore, notAfter time.Time) time.Time {
	lifetime := notAfter.Sub(notBefore)
	left := min(max(lifetime/10, emergencyFloor), lifetime/3)
	return notAfter.Add(-left).UTC().Truncate(time.Second)
}

// emergencyFloor is the least time left at which the emergency rule
// renews a certificate of 3 days or more: a day gives an operator a
// working day to notice a failure before the certificate expires.
const emergencyFloor = 24 * time.Hour

// timeLeft says how long a certificate has left, for a person:
// "8d23h left", "23h59m left", "expired 2h0m ago".
func timeLeft(d time.Duration) string {
	if d <= 0 {
		return "expired " + roughly(-d) + " ago"
	}
	return roughly(d) + " left"
}

func roughly(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d < time.Minute:
		return "under a minute"
	}
	return strings.TrimSuffix(d.String(), "0s")
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sameDomains(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	for i := range x {
		x[i], y[i] = strings.ToLower(x[i]), strings.ToLower(y[i])
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// RetryDelay is how long to wait after the failures-th consecutive failure:
// initial * 2^(failures-1), capped at max, then shortened by up to 10% by
// jitter (in [0, 1)) so that certificates that failed together do not all
// retry in the same second. Jitter only shortens, so max stays a real cap.
func RetryDelay(failures int, initial, max time.Duration, jitter float64) time.Duration {
	if failures < 1 {
		failures = 1
	}
	d := initial
	for i := 1; i < failures && d < max; i++ {
		if d > max/2 { // doubling would pass max, or wrap around
			d = max
			break
		}
		d *= 2
	}
	d = min(d, max)
	return d - time.Duration(float64(d)*0.1*jitter)
}

// RecordFailure updates rec after a failed attempt at now. The retry time
// is the backoff (RetryDelay with retry.max lowered by RetryCap), or the
// CA's Retry-After when that is later (the acme package caps a Retry-After
// at acme.MaxRetryAfter; docs/policy.md).
func RecordFailure(rec *store.Record, err error, now time.Time, retry config.Retry, jitter float64) {
	rec.LastFailure = ptr(now)
	rec.RetryCount++
	next := now.Add(RetryDelay(rec.RetryCount, retry.Initial, RetryCap(rec, now, retry), jitter))
	if ra, ok := acme.RetryAfter(err, now); ok && ra.After(next) {
		next = ra // never before the CA's Retry-After
	}
	rec.NextRetryTime = ptr(next)
	// Masked where it is recorded too, whatever its source masked: the
	// record goes to status, metrics and notifications.
	rec.LastError = secret.Mask(acme.Summary(err)) // the cause, on one line
	rec.LastErrorDetail = secret.Mask(err.Error())
}

// RetryCap is the longest backoff after a failure at now: retry.max, or
// 1/8 of the time the certificate has left when that is shorter, but never
// less than retry.initial. With a 24h retry.max a 90-day certificate
// renewed at 1/3 left never meets the cap; a 6-day one renewed with 3 days
// left is retried at least every 9 hours, then more often, about thirty
// times before it expires instead of three. An expired certificate (or
// none) has nothing left to race: plain retry.max applies.
func RetryCap(rec *store.Record, now time.Time, retry config.Retry) time.Duration {
	if rec == nil || rec.NotAfter == nil || !now.Before(*rec.NotAfter) {
		return retry.Max
	}
	return min(retry.Max, max(retry.Initial, rec.NotAfter.Sub(now)/8))
}

// RecordSuccess resets the failure fields of rec after a successful
// attempt. renewed is when its new version was stored; zero for an
// attempt that only deployed a version stored earlier, which leaves
// renew_time alone (unless it has none).
func RecordSuccess(rec *store.Record, renewed, now time.Time) {
	switch {
	case !renewed.IsZero():
		rec.RenewTime = ptr(renewed.UTC().Truncate(time.Second))
	case rec.RenewTime == nil:
		rec.RenewTime = ptr(now)
	}
	rec.RetryCount = 0
	rec.NextRetryTime = nil
	rec.LastError, rec.LastErrorDetail = "", ""
	if !renewed.IsZero() {
		// The ARI window was the replaced certificate's; the next run
		// asks about the new one (RFC 9773 section 4.3.1: right after
		// issuance).
		rec.ARI = nil
	}
}

func ptr[T any](v T) *T { return &v }
