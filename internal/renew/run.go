package renew

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/store"
)

// Deployer installs stored certificates and proves them served; see
// deploy.Deployer. It returns an error per item name (nil: deployed).
type Deployer interface {
	Deploy(ctx context.Context, items []*deploy.Item) map[string]error
}

var _ Deployer = (*deploy.Deployer)(nil)

// run is the body of a pass, under the lock with the records loaded:
// repair what a crash left, ask the CA about renewal windows, decide, run
// the canaries the gate picks, then the others it lets through.
func (r *Renewer) run(ctx context.Context, certs []*config.Certificate, opts Options, since time.Time) []Result {
	r.reconcile(certs)
	if !opts.DryRun {
		r.refreshARI(ctx, certs, opts)
	}
	now := r.now()
	results := make(map[string]*Result, len(certs))
	var canaries []CanaryInput
	var others []*config.Certificate
	work := false
	for _, c := range certs {
		named := slices.Contains(opts.Names, c.Name)
		forced := (opts.Force || opts.DryRun) && (len(opts.Names) == 0 || named)
		// Nothing runs yet: the record can be looked at in place. A
		// canary's is copied, as the gate keeps it past the canary's run.
		rec := r.view(c.Name)
		if c.Canary {
			rec = rec.Clone()
		}
		if forced && rec != nil && rec.RenewTime != nil && !since.IsZero() && !rec.RenewTime.Before(since) {
			forced = false
			r.step(c.Name, "skip", "renewed since this renewal was asked for (by another renewd while this one waited, or by an earlier leader)")
		}
		p := Decide(c, rec, now, forced)
		results[c.Name] = &Result{Name: c.Name, Outcome: NotDue, Plan: p}
		switch {
		case c.Canary:
			canaries = append(canaries, CanaryInput{Cert: c, Record: rec, Plan: p, Named: named})
		case p.Due:
			others = append(others, c)
			work = work || !p.DeployOnly
		}
	}
	gate := GateCanaries(canaries, GateOptions{Work: work, SkipCanary: opts.SkipCanary, MaxAge: r.Config.CanaryProofMaxAge}, now)
	for _, c := range gate.Fresh {
		r.step(c.Name, "proof", gate.Why[c.Name])
	}
	for _, c := range gate.Order {
		if res := results[c.Name]; !res.Plan.Due {
			res.Plan = Plan{Due: true, At: now.Truncate(time.Second), Reason: gate.Why[c.Name]}
		}
		r.step(c.Name, "canary", "renewed first: "+gate.Why[c.Name])
	}
	r.runAll(ctx, gate.Order, results, nil)

	holder, cause := gate.Holder, error(nil)
	for _, c := range gate.Order {
		if res := results[c.Name]; res.Outcome == Failed || res.Outcome == Interrupted {
			holder, cause = &CanaryInput{Cert: c, Record: r.peek(c.Name)}, res.Err
			break
		}
	}
	switch {
	case ctx.Err() != nil:
		r.interruptAll(others, results)
	case holder != nil && !opts.SkipCanary:
		run, ahead := r.holdBehind(holder, cause, others, results, now)
		r.runAll(ctx, run, results, ahead)
		r.saveChanges() // the holds
	default:
		r.runAll(ctx, others, results, nil)
	}
	out := make([]Result, 0, len(certs))
	for _, c := range certs {
		out = append(out, *results[c.Name])
	}
	return out
}

// holdBehind applies a failing canary to the other due certificates: those
// needing an order are held, except the ones HoldOrGo lets go ahead; a
// deploy of a version already stored places no order and is never held.
// It returns the certificates to run and those among them going ahead.
// cause is the canary's error when it failed in this pass.
func (r *Renewer) holdBehind(canary *CanaryInput, cause error, others []*config.Certificate, results map[string]*Result, now time.Time) ([]*config.Certificate, map[string]wentAhead) {
	name, crec := canary.Cert.Name, canary.Record
	reason := holdReason(name, crec)
	var run []*config.Certificate
	ahead := map[string]wentAhead{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range others {
		res := results[c.Name]
		if res.Plan.DeployOnly {
			run = append(run, c)
			continue
		}
		hold, why := HoldOrGo(r.records[c.Name], crec, now)
		if !hold {
			ahead[c.Name] = wentAhead{name, why}
			r.step(c.Name, "ahead", fmt.Sprintf("not held by failing canary %s: %s", name, why))
			r.Log.Warn("renewing despite a failing canary", zap.String("certificate", c.Name), zap.String("canary", name), zap.String("why", why))
			run = append(run, c)
			continue
		}
		rec := r.record(c)
		rec.HeldBy, rec.HeldReason = name, reason
		res.Outcome, res.Err = Held, &HeldError{Canary: name, Reason: reason, Cause: cause}
		if cause != nil {
			// The canary's own line in this run says why.
			r.step(c.Name, "held", fmt.Sprintf("not attempted: canary %s failed above", name))
		} else {
			r.step(c.Name, "held", reason)
		}
	}
	return run, ahead
}

// interruptAll marks certificates a shutdown kept from being attempted.
func (r *Renewer) interruptAll(certs []*config.Certificate, results map[string]*Result) {
	for _, c := range certs {
		results[c.Name].Outcome, results[c.Name].Err = Interrupted, context.Canceled
		r.step(c.Name, "stopped", "not attempted: renewd is stopping; it will be tried on the next run")
	}
}

// runAll renews certs, at most Config.Concurrency orders at a time, then
// deploys everything that was stored as one batch (one nginx reload), then
// records each outcome and saves the changed records in one batch.
func (r *Renewer) runAll(ctx context.Context, certs []*config.Certificate, results map[string]*Result, ahead map[string]wentAhead) {
	if len(certs) == 0 {
		return
	}
	if !r.dryRun {
		r.startAttempts(certs, ahead)
	}
	items := make([]*deploy.Item, len(certs))
	errs := make([]error, len(certs))
	sem := make(chan struct{}, max(1, r.Config.Concurrency))
	var wg sync.WaitGroup
	for i, c := range certs {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			r.attempted(c)
			items[i], errs[i] = r.obtainSafely(ctx, c, results[c.Name].Plan.DeployOnly)
		})
	}
	wg.Wait()
	served := r.deployAll(ctx, certs, items, errs)
	for i, c := range certs {
		if errs[i] != nil && interrupted(ctx, errs[i]) {
			// Shutdown, not the certificate's fault: no failure is
			// recorded and no backoff starts; the next run picks it up.
			results[c.Name].Outcome, results[c.Name].Err = Interrupted, errs[i]
			r.step(c.Name, "stopped", "interrupted before it finished; it will be retried on the next run")
			continue
		}
		r.finish(c, results[c.Name], items[i], errs[i], served[i])
	}
	failed := r.saveChanges()
	for _, c := range certs {
		r.report(c, results[c.Name], failed[c.Name])
	}
}

// deployAll deploys the stored items of a batch together and returns the
// served-chain verdict per certificate ("" when no check ran). It sets
// errs for the items whose deploy failed.
func (r *Renewer) deployAll(ctx context.Context, certs []*config.Certificate, items []*deploy.Item, errs []error) []string {
	served := make([]string, len(certs))
	var batch []*deploy.Item
	for i, c := range certs {
		if errs[i] == nil && c.Deploy.Enabled() && !r.dryRun {
			batch = append(batch, items[i])
		}
	}
	if len(batch) == 0 {
		return served
	}
	derrs := map[string]error{}
	if r.Deployer != nil {
		derrs = r.Deployer.Deploy(ctx, batch)
	}
	for i, c := range certs {
		if errs[i] != nil || !c.Deploy.Enabled() || r.dryRun {
			continue
		}
		errs[i] = derrs[c.Name]
		if r.Deployer == nil {
			errs[i] = errors.New("internal error: no deployer for a certificate with a deploy block")
		} else if c.Deploy.Nginx {
			served[i] = servedVerdict(errs[i])
		}
	}
	return served
}

// startAttempts clears what earlier passes said about holds before certs
// are attempted again, and records the failing canary each goes ahead of
// in this one (ahead, from holdBehind).
func (r *Renewer) startAttempts(certs []*config.Certificate, ahead map[string]wentAhead) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range certs {
		rec := r.records[c.Name]
		a, ok := ahead[c.Name]
		if rec == nil && !ok {
			continue
		}
		rec = r.record(c)
		rec.HeldBy, rec.HeldReason = "", ""
		rec.WentAheadOf, rec.WentAheadReason = a.canary, a.why
	}
}

// wentAhead is a certificate renewed in spite of a failing canary.
type wentAhead struct{ canary, why string }

// attempted records the start of c's attempt, its own time.
func (r *Renewer) attempted(c *config.Certificate) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dryRun {
		return
	}
	r.record(c).LastAttempt = ptr(now)
}

// servedVerdict is what a deploy error says of the chain nginx served:
// "complete" after a verified deploy, "incomplete" when the served chain
// did not verify, "" when the check did not get that far (nginx -t
// failed, nginx serves another certificate, a hook failed after it...).
func servedVerdict(err error) string {
	var inc *chain.IncompleteError
	var fleet interface{ ServedIncomplete() bool } // a cluster's nodes
	switch {
	case err == nil:
		return "complete"
	case errors.As(err, &inc), errors.As(err, &fleet) && fleet.ServedIncomplete():
		return "incomplete"
	}
	return ""
}

// obtainSafely turns a panic in one renewal into that renewal's failure,
// so a bug triggered by one certificate cannot take the others (or a
// daemon) down with it.
func (r *Renewer) obtainSafely(ctx context.Context, c *config.Certificate, deployOnly bool) (it *deploy.Item, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.Log.Error("renewal panicked", zap.String("certificate", c.Name), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			it, err = nil, fmt.Errorf("internal error: %v", p)
		}
	}()
	if deployOnly {
		return r.stored(c)
	}
	return r.obtain(ctx, c)
}

// finish records the outcome of one certificate in its record (in memory;
// runAll saves the batch).
func (r *Renewer) finish(c *config.Certificate, res *Result, it *deploy.Item, err error, served string) {
	if r.dryRun {
		r.finishDry(c, res, err)
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.record(c)
	if served != "" {
		rec.ServedChain, rec.ServedCheckedAt = served, ptr(now)
	}
	if err != nil {
		RecordFailure(rec, err, now, r.Config.Retry, r.jitter())
		r.warnLongRetryAfter(c, err, now)
		res.Outcome, res.Err = Failed, err
		return
	}
	renewed := r.issued[c.Name] // zero for a deploy of a stored version
	RecordSuccess(rec, renewed, now)
	if c.Deploy.Enabled() {
		rec.DeployedVersion = it.Version
	}
	if c.Canary && !renewed.IsZero() && (!c.Deploy.Nginx || served == "complete") {
		rec.CanaryProof = ptr(now)
	}
	res.Outcome = Renewed
}

// report tells a person and the log what was recorded for c, after the
// batch was saved: a line never claims what the storage does not hold.
func (r *Renewer) report(c *config.Certificate, res *Result, saveErr error) {
	if r.dryRun || (res.Outcome != Renewed && res.Outcome != Failed) {
		return
	}
	rec := r.peek(c.Name)
	if saveErr != nil {
		cause := res.Err
		res.Outcome, res.Err = Failed, fmt.Errorf("recording the outcome failed: %w", saveErr)
		if cause != nil {
			res.Err = fmt.Errorf("%w; and recording it failed: %w", cause, saveErr)
		}
		r.step(c.Name, "failed", fmt.Sprintf("%s (not recorded: the next run decides again from the last recorded state)", acme.Summary(res.Err)))
		return
	}
	if res.Outcome == Failed {
		// The cause once, on one line: the progress line (which the
		// daemon logs as a warning) says it; this record keeps the
		// whole text for debugging.
		r.step(c.Name, "failed", fmt.Sprintf("%s (retry %d at %s)", rec.LastError, rec.RetryCount, rec.NextRetryTime.Format(time.RFC3339)))
		r.Log.Debug("renewal failed", zap.String("certificate", c.Name), zap.Strings("domains", c.Domains),
			zap.String("serial", rec.Serial), zap.Int("retry_count", rec.RetryCount), zap.Timep("next_retry_time", rec.NextRetryTime),
			zap.String("error", rec.LastError), zap.String("detail", rec.LastErrorDetail))
		return
	}
	r.step(c.Name, "done", fmt.Sprintf("serial %s, valid until %s", rec.Serial, rec.NotAfter.Format(time.RFC3339)))
	r.pruneArchive(c, rec)
	r.Log.Info("renewed", zap.String("certificate", c.Name), zap.Strings("domains", c.Domains), zap.String("serial", rec.Serial),
		zap.Timep("not_after", rec.NotAfter), zap.String("version", rec.Version))
}

// pruner is a Storage that can prune a certificate's old versions
// (*store.Store).
type pruner interface {
	Prune(name string, keep int, deployed string) ([]string, error)
}

// pruneArchive keeps archive/<name> to the live, the deployed and the last
// archive_keep versions (docs/storage.md), after a renewal stored a new
// one. A failure is logged: the renewal itself succeeded.
func (r *Renewer) pruneArchive(c *config.Certificate, rec *store.Record) {
	r.mu.Lock()
	stored := r.issued[c.Name]
	r.mu.Unlock()
	p, ok := r.Store.(pruner)
	if !ok || stored.IsZero() || r.Config.ArchiveKeep < 1 {
		return
	}
	removed, err := p.Prune(c.Name, r.Config.ArchiveKeep, rec.DeployedVersion)
	if err != nil {
		r.Log.Warn("old versions not all removed from archive/", zap.String("certificate", c.Name), zap.Error(err))
	}
	if len(removed) > 0 {
		r.Log.Debug("old versions removed from archive/", zap.String("certificate", c.Name), zap.Strings("versions", removed))
	}
}

// warnLongRetryAfter says so when the CA asked for a longer wait than
// renewd honours (acme.MaxRetryAfter).
func (r *Renewer) warnLongRetryAfter(c *config.Certificate, err error, now time.Time) {
	if at, ok := acme.RetryAfter(err, now); ok && !at.Before(now.Add(acme.MaxRetryAfter)) {
		r.Log.Warn("the CA asked to wait longer than renewd waits; retrying after the cap", zap.String("certificate", c.Name),
			zap.Duration("cap", acme.MaxRetryAfter), zap.Time("retry_at", at))
	}
}

// finishDry reports the outcome of a dry run, which records nothing.
func (r *Renewer) finishDry(c *config.Certificate, res *Result, err error) {
	if err != nil {
		res.Outcome, res.Err = Failed, err
		r.step(c.Name, "failed", "dry run: "+acme.Summary(err))
		return
	}
	res.Outcome = Renewed
	r.step(c.Name, "done", "dry run: issued and checked; nothing stored, deployed or recorded")
}

// HeldError is a Result's error when a failing canary held the
// certificate. It unwraps to the canary's own error when the canary failed
// in the same pass.
type HeldError struct {
	Canary string // the canary's name
	Reason string // held_reason
	Cause  error  // nil when the canary failed in an earlier pass
}

func (e *HeldError) Error() string { return e.Reason }
func (e *HeldError) Unwrap() error { return e.Cause }
