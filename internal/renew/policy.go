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
	// lifetime left", "waiting for retry 2", ...
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
func Decide(cert *config.Certificate, rec *store.Record, now time.Time, force bool) Plan {
	if force {
		return Plan{Due: true, At: now.UTC().Truncate(time.Second), Reason: "renew --now"}
	}
	if rec != nil && rec.NextRetryTime != nil && now.Before(*rec.NextRetryTime) {
		return Plan{At: *rec.NextRetryTime, Reason: fmt.Sprintf("waiting for retry %d", rec.RetryCount+1)}
	}
	switch {
	case rec == nil || rec.NotAfter == nil || rec.NotBefore == nil:
		return Plan{Due: true, Reason: "no certificate yet"}
	case !sameDomains(cert.Domains, rec.Domains):
		return Plan{Due: true, Reason: "domains changed"}
	case cert.Deploy.Enabled() && rec.Version != "" && rec.DeployedVersion != rec.Version && now.Before(*rec.NotAfter):
		return Plan{Due: true, DeployOnly: true, Reason: "deploy pending for version " + rec.Version}
	case rec.NextRetryTime != nil:
		// A failed renewal stays due once its retry time has passed.
		return Plan{Due: true, At: *rec.NextRetryTime, Reason: fmt.Sprintf("retry %d", rec.RetryCount+1)}
	}
	at, why := RenewAt(*rec.NotBefore, *rec.NotAfter, cert.RenewBefore)
	return Plan{Due: !now.Before(at), At: at, Reason: why}
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
// is the backoff, or the CA's Retry-After when that is later.
func RecordFailure(rec *store.Record, err error, now time.Time, retry config.Retry, jitter float64) {
	rec.LastAttempt = ptr(now)
	rec.RetryCount++
	next := now.Add(RetryDelay(rec.RetryCount, retry.Initial, retry.Max, jitter))
	if ra, ok := acme.RetryAfter(err, now); ok && ra.After(next) {
		next = ra // never before the CA's Retry-After
	}
	rec.NextRetryTime = ptr(next)
	rec.LastError = err.Error()
}

// RecordSuccess resets the failure fields of rec after a renewal at now.
func RecordSuccess(rec *store.Record, now time.Time) {
	rec.LastAttempt = ptr(now)
	rec.RenewTime = ptr(now)
	rec.RetryCount = 0
	rec.NextRetryTime = nil
	rec.LastError = ""
}

func ptr[T any](v T) *T { return &v }
