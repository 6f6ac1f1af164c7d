// Package renew decides which certificates are due and runs the renewal
// pipeline for them: order, complete and check the chain, store, deploy,
// record. The decisions (policy.go, canary.go, ari.go) are pure functions
// of the records and now; the pipeline (pass.go, run.go, obtain.go) does
// the I/O through the Storage seam.
package renew

import (
	"context"
	"crypto/x509"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// Issuer orders certificates and asks the CA when to renew them.
// *acme.Client is the real one. Both methods honour ctx and may be called
// concurrently.
type Issuer interface {
	// Obtain orders a certificate for cert. previous is the certificate it
	// replaces, nil for a first issuance (RFC 9773 section 5: replaces).
	Obtain(ctx context.Context, cert *config.Certificate, previous *x509.Certificate) (*acme.Issued, error)
	// RenewalInfo returns the CA's suggested renewal window for leaf
	// (RFC 9773), or an error matching acme.ErrNoARI when the CA has none.
	RenewalInfo(ctx context.Context, leaf *x509.Certificate) (*acme.RenewalInfo, error)
}

var _ Issuer = (*acme.Client)(nil)

// Progress receives one line per step and certificate, for a person
// watching a terminal. Implementations must be safe for concurrent use.
type Progress interface {
	Step(name, step, detail string)
}

// Outcome of one certificate in a run.
type Outcome string

// Outcomes.
const (
	Renewed Outcome = "renewed"
	Failed  Outcome = "failed"
	NotDue  Outcome = "not due"
	Held    Outcome = "held by canary"
	// Interrupted: the run was cancelled (shutdown) before this
	// certificate finished, and the error came from the cancellation
	// itself; nothing is recorded against it.
	Interrupted Outcome = "interrupted"
)

// Result is what happened to one certificate in a pass.
type Result struct {
	Name    string
	Outcome Outcome
	Plan    Plan
	Err     error
	// Record is the certificate's record after the pass (a copy).
	Record *store.Record
}

// Options select what a pass does.
type Options struct {
	// Force renews the selected certificates now, due or not (renew --now).
	Force bool
	// Names limits the pass to these certificates; empty means all.
	// Canaries are always considered (see docs/policy.md, the canary).
	Names []string
	// SkipCanary neither orders a canary that is not named nor holds
	// anything behind one: for an emergency, when the canary itself is
	// what is broken.
	SkipCanary bool
	// DryRun orders and checks the selected certificates (as with Force)
	// but stores nothing, deploys nothing and changes no record:
	// `renew --dry-run`, normally against a staging CA (the caller picks
	// the Issuer). A chain that is complete up to a root this machine does
	// not trust passes, since staging roots are not in any trust store.
	DryRun bool
	// Wait is how long to wait for the storage lock when another process
	// holds it; Waiting, when set, is called once when the wait begins.
	// With Force, a certificate renewed by that other process while this
	// one waited is not renewed again: two `renew --now` at once give one
	// issuance, not two.
	Wait    time.Duration
	Waiting func()
	// Since, with Force, is when the renewal was asked for: a certificate
	// renewed at or after it is not renewed again. A cluster's leader
	// sets it to the time a node asked, so a request that a new leader
	// runs again after the first one died gives one issuance. It is kept
	// exact (records keep whole seconds), so a renewal earlier in the same
	// second does not count. Zero: the start of the wait for the lock,
	// when there was one.
	Since time.Time
}

// Report is what one pass did: its results, and every configured
// certificate's record before and after it. Notifications and metrics
// read this, not the storage.
type Report struct {
	Results []Result
	// Before and After are the records at the start (as read, repairs
	// included) and at the end of the pass, by name; copies.
	Before, After map[string]*store.Record
	// Repairs are the records that were unusable and rebuilt.
	Repairs []store.Repair
	// Pruned are the records of certificates no longer configured that
	// the pass deleted (their files stay).
	Pruned     []string
	Start, End time.Time
}

// Renewer runs renewal passes for a configuration.
type Renewer struct {
	Config   *config.Config
	Store    Storage
	Issuer   Issuer
	Roots    *x509.CertPool
	Log      *zap.Logger
	Progress Progress // may be nil
	Deployer Deployer // needed when any certificate has a deploy block

	// Test seams. Zero values use the real clock, jitter and AIA fetcher.
	Now     func() time.Time
	Jitter  func() float64
	Fetcher chain.Fetcher

	// One pass at a time owns these (Pass holds the storage lock).
	mu        sync.Mutex               // guards records and persisted between a pass's goroutines
	records   map[string]*store.Record // working copy, configured certificates only
	persisted map[string]*store.Record // what the storage holds, as far as this pass knows
	issued    map[string]time.Time     // when each certificate's new version was stored in this pass
	dryRun    bool                     // this pass is Options.DryRun: nothing is written
}

func (r *Renewer) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Renewer) jitter() float64 {
	if r.Jitter != nil {
		return r.Jitter()
	}
	return rand.Float64()
}

func (r *Renewer) step(name, step, detail string) {
	if r.Progress != nil {
		r.Progress.Step(name, step, detail)
	}
}
