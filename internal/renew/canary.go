package renew

import (
	"fmt"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// The canary contract (docs/policy.md, "The canary"):
//
//  1. A canary proves the whole path: order, complete chain, store,
//     deploy, reload, served chain verified. Its proof is the time of its
//     last such full success (Record.CanaryProof).
//  2. In a run with orders to place for other certificates, a canary is
//     ordered first only when it is due itself, or its proof is missing or
//     older than canary_proof_max_age. Otherwise its fresh proof gates the
//     run and it is not ordered. A run without such work orders a canary
//     only when it is due itself.
//  3. A failing canary holds the others, except a certificate in its
//     emergency window or one that would expire before the canary's next
//     retry: that one goes ahead, and says so.
//  4. --skip-canary never orders a canary that was not named, and nothing
//     is held. renew --now NAME orders a canary only under rule 2.
//  5. A hold is data: held_by names the canary, held_reason says why.
//
// GateCanaries and HoldOrGo are the decisions, pure functions of the
// records and now; Renewer.run carries them out.

// CanaryInput is what the gate knows of one canary.
type CanaryInput struct {
	Cert   *config.Certificate
	Record *store.Record // nil before its first issuance
	Plan   Plan          // Decide for it (forced when named on renew --now)
	Named  bool          // named on the command line
}

// GateOptions are the run's settings the gate depends on.
type GateOptions struct {
	// Work says the run has orders to place for other certificates.
	Work bool
	// SkipCanary is --skip-canary.
	SkipCanary bool
	// MaxAge is canary_proof_max_age.
	MaxAge time.Duration
}

// Gate is what a run does with its canaries before the other certificates.
type Gate struct {
	// Order are the canaries to renew first, with Why[name] saying why.
	Order []*config.Certificate
	Why   map[string]string
	// Fresh are the canaries whose proof gates the run without an order,
	// with Why[name] saying so.
	Fresh []*config.Certificate
	// Holder is a canary that holds the others without being attempted
	// (it is waiting for its retry after a failure), nil when none.
	Holder *CanaryInput
}

// GateCanaries decides, at now, which canaries a run orders first and
// whether one already holds the others: rules 2 and 4 of the contract.
func GateCanaries(canaries []CanaryInput, opts GateOptions, now time.Time) Gate {
	g := Gate{Why: map[string]string{}}
	for i := range canaries {
		c := &canaries[i]
		name := c.Cert.Name
		switch {
		case opts.SkipCanary && !c.Named:
			// rule 4: neither ordered nor holding
		case c.Plan.Due:
			g.Order = append(g.Order, c.Cert)
			g.Why[name] = c.Plan.Reason
		case !opts.Work:
		case isWaiting(c.Record, now):
			if g.Holder == nil {
				g.Holder = c
			}
		default:
			if stale, why := proofStale(c.Record, opts.MaxAge, now); stale {
				g.Order = append(g.Order, c.Cert)
				g.Why[name] = why
			} else {
				g.Fresh = append(g.Fresh, c.Cert)
				g.Why[name] = why
			}
		}
	}
	return g
}

// proofStale says whether a canary's proof is too old to gate a run, and
// why, for a person.
func proofStale(rec *store.Record, maxAge time.Duration, now time.Time) (bool, string) {
	if rec == nil || rec.CanaryProof == nil {
		return true, "canary: no proof of the whole path yet"
	}
	p := rec.CanaryProof.UTC().Format(time.RFC3339)
	if age := now.Sub(*rec.CanaryProof); age > maxAge {
		return true, fmt.Sprintf("canary: last proof %s is older than %s", p, maxAge)
	}
	return false, fmt.Sprintf("canary: proved the path at %s (fresh for %s); not ordered again", p, maxAge)
}

// HoldOrGo decides whether a failing canary holds a certificate at now:
// rule 3 of the contract. rec is the certificate's record (nil before its
// first issuance), canary the failing canary's record after its failure.
// hold is false, with why saying so, for a certificate in its emergency
// window or one that would expire before the canary's next retry.
func HoldOrGo(rec, canary *store.Record, now time.Time) (hold bool, why string) {
	if rec == nil || rec.NotBefore == nil || rec.NotAfter == nil {
		return true, ""
	}
	na := *rec.NotAfter
	if e := EmergencyAt(*rec.NotBefore, na); !now.Before(e) {
		return false, "in its emergency window: " + timeLeft(na.Sub(now))
	}
	if canary != nil && canary.NextRetryTime != nil && !na.After(*canary.NextRetryTime) {
		return false, fmt.Sprintf("expires at %s, before the canary's next retry at %s", na.UTC().Format(time.RFC3339),
			canary.NextRetryTime.UTC().Format(time.RFC3339))
	}
	return true, ""
}

// holdReason says why a canary holds the others, for held_reason.
func holdReason(canary string, rec *store.Record) string {
	if rec == nil {
		return fmt.Sprintf("canary %s failed", canary)
	}
	s := fmt.Sprintf("canary %s failed: %s", canary, firstLine(rec.LastError))
	if rec.NextRetryTime != nil {
		s += fmt.Sprintf(" (its next retry is at %s)", rec.NextRetryTime.UTC().Format(time.RFC3339))
	}
	return s
}
