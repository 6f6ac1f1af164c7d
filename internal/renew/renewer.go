package renew

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/store"

	"github.com/renewd/renewd/internal/crashpoint"
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
	// certificate finished; nothing is recorded against it.
	Interrupted Outcome = "interrupted"
)

// Result is what happened to one certificate in a run.
type Result struct {
	Name    string
	Outcome Outcome
	Plan    Plan
	Err     error
	Record  *store.Record
}

// Options select what a run does.
type Options struct {
	// Force renews the selected certificates now, due or not (renew --now).
	Force bool
	// Names limits the run to these certificates; empty means all.
	Names []string
	// Since, with Force, is when the caller started waiting for a lock
	// another process held (whole seconds, rounded down; zero when it did
	// not wait): a certificate renewed since then is not renewed again, so
	// two `renew --now` at once give one issuance, not two.
	Since time.Time
	// SkipCanary renews canaries like any other certificate, holding
	// nothing behind them: for an emergency, when the canary itself is
	// what is broken.
	SkipCanary bool
	// DryRun orders and checks the selected certificates (as with Force)
	// but stores nothing, deploys nothing and leaves state.json alone:
	// `renew --dry-run`, normally against a staging CA (the caller picks
	// the Issuer). A chain that is complete up to a root this machine does
	// not trust passes, since staging roots are not in any trust store.
	DryRun bool
}

// Renewer runs renewals for a configuration. The caller holds the store's
// lock for the duration of Run.
type Renewer struct {
	Config   *config.Config
	Store    *store.Store
	Issuer   Issuer
	Roots    *x509.CertPool
	Log      *zap.Logger
	Progress Progress // may be nil
	Deployer Deployer // needed when any certificate has a deploy block

	// Test seams. Zero values use the real clock, jitter and AIA fetcher.
	Now     func() time.Time
	Jitter  func() float64
	Fetcher chain.Fetcher

	mu     sync.Mutex // guards state and its file
	state  *store.State
	dryRun bool // this run is Options.DryRun: nothing is written
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

// Run renews what is due (or, with Force, what is selected). Canaries run
// first; if any canary fails, the other certificates are not attempted and
// are reported as Held. A failure of one certificate never stops the others.
// The error is for problems that stop the whole run (state unreadable, an
// unknown name); per-certificate failures are in the results.
func (r *Renewer) Run(ctx context.Context, opts Options) ([]Result, error) {
	certs, err := r.selectCerts(opts.Names)
	if err != nil {
		return nil, err
	}
	st, rebuilt, err := r.Store.LoadState()
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	r.state, r.dryRun = st, opts.DryRun
	if opts.DryRun {
		opts.Force = true
	}
	if rebuilt && len(st.Certificates) > 0 && !opts.DryRun {
		// Say so where a person sees it, and write the rebuilt state now
		// rather than at the first attempt.
		r.step("state", "rebuilt", fmt.Sprintf("state.json was missing or unreadable; rebuilt %d record(s) from %s/live", len(st.Certificates), r.Store.Dir()))
		r.Log.Warn("state.json was missing or unreadable; rebuilt from live certificates", zap.Int("certificates", len(st.Certificates)))
		if err := r.Store.SaveState(st); err != nil {
			return nil, fmt.Errorf("save rebuilt state: %w", err)
		}
	}

	r.reconcile(certs)
	if !opts.DryRun {
		r.refreshARI(ctx, certs, opts)
	}

	now := r.now()
	var canaries, others []*config.Certificate
	results := make(map[string]*Result, len(certs))
	for _, c := range certs {
		forced := opts.Force && (len(opts.Names) == 0 || slices.Contains(opts.Names, c.Name))
		if rec := st.Certificates[c.Name]; forced && rec != nil && rec.RenewTime != nil && !opts.Since.IsZero() && !rec.RenewTime.Before(opts.Since) {
			forced = false
			r.step(c.Name, "skip", "renewed by another renewd process while this one waited for the lock")
		}
		p := Decide(c, st.Certificates[c.Name], now, forced)
		results[c.Name] = &Result{Name: c.Name, Outcome: NotDue, Plan: p, Record: st.Certificates[c.Name]}
		switch {
		case c.Canary && !opts.SkipCanary:
			canaries = append(canaries, c)
		case p.Due:
			others = append(others, c)
		}
	}
	// A canary runs in every run that has work, due or not: it proves the
	// CA, the challenge and the deploy path before the real certificates.
	// A canary still waiting out its retry time is not run early; its last
	// failure holds the others until it has succeeded.
	var dueCanaries []*config.Certificate
	var canaryErr error
	for _, c := range canaries {
		p := results[c.Name].Plan
		switch {
		case p.Due:
			dueCanaries = append(dueCanaries, c)
		case len(others) == 0:
		case isWaiting(st.Certificates[c.Name], now):
			rec := st.Certificates[c.Name]
			canaryErr = fmt.Errorf("canary %s is waiting for retry at %s after: %s", c.Name, rec.NextRetryTime.Format(time.RFC3339), firstLine(rec.LastError))
		default:
			results[c.Name].Plan = Plan{Due: true, At: now.Truncate(time.Second), Reason: "canary for this run"}
			dueCanaries = append(dueCanaries, c)
		}
	}

	r.runAll(ctx, dueCanaries, results)
	for _, c := range dueCanaries {
		if res := results[c.Name]; res.Outcome == Failed {
			canaryErr = fmt.Errorf("canary %s failed: %w", c.Name, res.Err)
			break
		}
	}
	if canaryErr != nil {
		r.hold(others, results, canaryErr)
	} else {
		r.runAll(ctx, others, results)
	}

	out := make([]Result, 0, len(certs))
	for _, c := range certs {
		out = append(out, *results[c.Name])
	}
	return out, nil
}

// hold records that certs were not attempted because a canary failed, so
// `renewd status` shows why they are still on their old certificate. It
// is not their failure: retry_count and next_retry_time stay as they are.
func (r *Renewer) hold(certs []*config.Certificate, results map[string]*Result, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range certs {
		res := results[c.Name]
		res.Outcome, res.Err = Held, cause
		rec := r.record(c)
		rec.HeldBy = cause.Error()
		res.Record = rec
		r.step(c.Name, "held", cause.Error())
	}
	if len(certs) > 0 && !r.dryRun {
		if err := r.Store.SaveState(r.state); err != nil {
			r.Log.Error("save state", zap.Error(err))
		}
	}
}

// selectCerts returns the named certificates, or all of them. Canaries are
// always included: a run that renews some certificate runs them first, also
// when it was asked for that certificate alone.
func (r *Renewer) selectCerts(names []string) ([]*config.Certificate, error) {
	if len(names) == 0 {
		return r.Config.Certificates, nil
	}
	picked := map[string]bool{}
	for _, n := range names {
		if r.Config.Certificate(n) == nil {
			return nil, fmt.Errorf("no certificate named %q in %s", n, r.Config.DomainsDir)
		}
		picked[n] = true
	}
	var out []*config.Certificate
	for _, c := range r.Config.Certificates {
		if picked[c.Name] || c.Canary {
			out = append(out, c)
		}
	}
	return out, nil
}

// reconcile adopts a live version state.json does not know: renewd stored
// it and died before recording it. Without this the next run would order
// again for a certificate it already has (docs/crash-safety.md, I5). Only the link is
// read for certificates whose version matches, so this stays cheap.
func (r *Renewer) reconcile(certs []*config.Certificate) {
	for _, c := range certs {
		if !r.dryRun {
			r.promoteCommitted(c)
		}
		target, err := os.Readlink(r.Store.LiveDir(c.Name))
		if err != nil {
			continue
		}
		rec := r.state.Certificates[c.Name]
		if rec != nil && filepath.Base(target) == rec.Version {
			continue
		}
		files, version, err := r.Store.Live(c.Name)
		if err != nil {
			r.Log.Warn("live version unreadable", zap.String("certificate", c.Name), zap.Error(err))
			continue
		}
		certs, err := chain.ParsePEM(files.Cert)
		if err != nil {
			continue
		}
		rec = r.record(c)
		store.RecordFromCert(rec, certs[0])
		rec.Version = version
		r.step(c.Name, "found", fmt.Sprintf("stored version %s was not recorded; adopting it", version))
	}
}

// promoteCommitted makes live an archived version newer than live/<name>:
// renewd stored it completely and died before switching live/<name> to it.
// Ordering again would spend an order (and a rate limit) on a certificate
// already issued (docs/crash-safety.md, I5). Only a version whose files check out and
// whose names are the configured ones is taken; anything else is left for
// a new order.
func (r *Renewer) promoteCommitted(c *config.Certificate) {
	versions, err := r.Store.Versions(c.Name)
	if err != nil || len(versions) == 0 {
		return
	}
	newest, current := versions[len(versions)-1], ""
	if target, err := os.Readlink(r.Store.LiveDir(c.Name)); err == nil {
		current = filepath.Base(target)
	}
	if newest <= current { // versions sort in the order they were made
		return
	}
	files, err := r.Store.Version(c.Name, newest)
	if err == nil {
		_, err = r.checkFiles(c, files)
	}
	if err == nil {
		err = r.Store.Promote(c.Name, newest)
	}
	if err != nil {
		r.Log.Warn("unfinished stored version not used", zap.String("certificate", c.Name), zap.String("version", newest), zap.Error(err))
		return
	}
	r.step(c.Name, "found", fmt.Sprintf("stored version %s was never made live; it is live now, no new order", newest))
}

// checkFiles checks stored files as Build checked them before storing (a
// complete chain to a trusted root, the key matching the leaf, the
// configured names) and returns the leaf.
func (r *Renewer) checkFiles(c *config.Certificate, files store.Files) (*x509.Certificate, error) {
	certs, err := chain.ParsePEM(files.Fullchain)
	if err != nil {
		return nil, fmt.Errorf("fullchain: %w", err)
	}
	if _, err := chain.Verify(certs, chain.Options{Roots: r.Roots, Now: r.now()}); err != nil {
		return nil, err
	}
	if _, err := tls.X509KeyPair(files.Fullchain, files.Key); err != nil {
		return nil, err
	}
	if !sameNames(certs[0].DNSNames, c.Domains) {
		return nil, fmt.Errorf("its names %v are not the configured %v", certs[0].DNSNames, c.Domains)
	}
	return certs[0], nil
}

func sameNames(a, b []string) bool {
	norm := func(s []string) []string {
		out := make([]string, len(s))
		for i, n := range s {
			out[i] = strings.ToLower(n)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// orderTimeout bounds one ACME order (plus the DNS propagation timeout).
const orderTimeout = 10 * time.Minute

// Deployer installs stored certificates and proves them served; see
// deploy.Deployer. It returns an error per item name (nil: deployed).
type Deployer interface {
	Deploy(ctx context.Context, items []*deploy.Item) map[string]error
}

var _ Deployer = (*deploy.Deployer)(nil)

// runAll renews certs, at most Config.Concurrency orders at a time, then
// deploys everything that was stored as one batch (one nginx reload), then
// records each outcome.
func (r *Renewer) runAll(ctx context.Context, certs []*config.Certificate, results map[string]*Result) {
	items := make([]*deploy.Item, len(certs))
	errs := make([]error, len(certs))
	sem := make(chan struct{}, max(1, r.Config.Concurrency))
	var wg sync.WaitGroup
	for i, c := range certs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			items[i], errs[i] = r.obtainSafely(ctx, c, results[c.Name].Plan.DeployOnly)
		}()
	}
	wg.Wait()

	served := make([]string, len(certs)) // served-chain verdicts, "" when none ran
	var batch []*deploy.Item
	for i, c := range certs {
		if errs[i] == nil && c.Deploy.Enabled() && !r.dryRun {
			batch = append(batch, items[i])
		}
	}
	if len(batch) > 0 {
		derrs := map[string]error{}
		if r.Deployer != nil {
			derrs = r.Deployer.Deploy(ctx, batch)
		}
		for i, c := range certs {
			if errs[i] == nil && c.Deploy.Enabled() && !r.dryRun {
				errs[i] = derrs[c.Name]
				if r.Deployer == nil {
					errs[i] = errors.New("internal error: no deployer for a certificate with a deploy block")
				} else if c.Deploy.Nginx {
					served[i] = servedVerdict(errs[i])
				}
			}
		}
	}
	for i, c := range certs {
		if errs[i] != nil && ctx.Err() != nil {
			// Shutdown, not the certificate's fault: no failure is
			// recorded and no backoff starts; the next run picks it up.
			results[c.Name].Outcome, results[c.Name].Err = Interrupted, errs[i]
			r.step(c.Name, "stopped", "interrupted before it finished; it will be retried on the next run")
			continue
		}
		r.finish(c, results[c.Name], items[i], errs[i], served[i])
	}
}

// servedVerdict is what a deploy error says of the chain nginx served:
// "complete" after a verified deploy, "incomplete" when the served chain
// did not verify, "" when the check did not get that far (nginx -t
// failed, nginx serves another certificate, a hook failed after it...).
func servedVerdict(err error) string {
	var inc *chain.IncompleteError
	switch {
	case err == nil:
		return "complete"
	case errors.As(err, &inc):
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

// finish records the outcome of one certificate in state.json.
func (r *Renewer) finish(c *config.Certificate, res *Result, it *deploy.Item, err error, served string) {
	if r.dryRun {
		r.finishDry(c, res, err)
		return
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.record(c)
	rec.HeldBy = ""
	if served != "" {
		rec.ServedChain, rec.ServedCheckedAt = served, ptr(now)
	}
	if err != nil {
		RecordFailure(rec, err, now, r.Config.Retry, r.jitter())
		res.Outcome, res.Err = Failed, err
		r.step(c.Name, "failed", fmt.Sprintf("%v (retry %d at %s)", err, rec.RetryCount, rec.NextRetryTime.Format(time.RFC3339)))
		r.Log.Warn("renewal failed", zap.String("certificate", c.Name), zap.Strings("domains", c.Domains),
			zap.String("serial", rec.Serial), zap.Int("retry_count", rec.RetryCount), zap.Timep("next_retry_time", rec.NextRetryTime), zap.Error(err))
	} else {
		RecordSuccess(rec, now)
		if c.Deploy.Enabled() {
			rec.DeployedVersion = it.Version
		}
		res.Outcome = Renewed
		r.step(c.Name, "done", fmt.Sprintf("serial %s, valid until %s", rec.Serial, rec.NotAfter.Format(time.RFC3339)))
		r.Log.Info("renewed", zap.String("certificate", c.Name), zap.Strings("domains", c.Domains), zap.String("serial", rec.Serial),
			zap.Timep("not_after", rec.NotAfter), zap.String("version", rec.Version))
	}
	res.Record = rec
	if serr := r.Store.SaveState(r.state); serr != nil {
		r.Log.Error("save state", zap.Error(serr))
		if res.Err == nil {
			res.Outcome, res.Err = Failed, fmt.Errorf("save state: %w", serr)
		}
	}
}

// finishDry reports the outcome of a dry run, which records nothing.
func (r *Renewer) finishDry(c *config.Certificate, res *Result, err error) {
	res.Record = r.state.Certificates[c.Name]
	if err != nil {
		res.Outcome, res.Err = Failed, err
		r.step(c.Name, "failed", fmt.Sprintf("dry run: %v", err))
		return
	}
	res.Outcome = Renewed
	r.step(c.Name, "done", "dry run: issued and checked; nothing stored, deployed or recorded")
}

// record returns c's record, creating it. The caller holds r.mu.
func (r *Renewer) record(c *config.Certificate) *store.Record {
	rec := r.state.Certificates[c.Name]
	if rec == nil {
		rec = &store.Record{Name: c.Name, Domains: c.Domains}
		r.state.Certificates[c.Name] = rec
	}
	return rec
}

// obtain orders a certificate, checks and completes its chain and stores
// it. The new version is recorded in state.json at once, before any deploy:
// if renewd dies now, the next run deploys it instead of ordering again.
func (r *Renewer) obtain(ctx context.Context, c *config.Certificate) (*deploy.Item, error) {
	start := time.Now()
	if err := preflight(c); err != nil {
		return nil, err
	}
	r.step(c.Name, "order", fmt.Sprintf("%s for %s", c.Challenge.Type, joinDomains(c.Domains)))
	// A deadline for the whole order: lego's polls and a CA that sends
	// headers and then stalls are otherwise bounded per request only.
	octx, cancel := context.WithTimeout(ctx, orderTimeout+c.Challenge.DNS01.PropagationTimeout)
	previous := r.previous(c)
	if r.dryRun {
		previous = nil // the staging CA never issued it: no `replaces`
	}
	issued, err := r.Issuer.Obtain(octx, c, previous)
	cancel()
	if err != nil {
		return nil, err
	}
	crashpoint.Hit("renew-ordered")
	fetcher := r.Fetcher
	if fetcher == nil {
		fetcher = &chain.HTTPFetcher{}
	}
	bundle, err := chain.Build(ctx, issued.Certs, issued.Key, c.Domains, chain.Options{Roots: r.Roots, Now: r.now(), Fetcher: fetcher})
	if r.dryRun {
		return nil, r.dryChain(c, bundle, err)
	}
	if err != nil {
		return nil, fmt.Errorf("refusing the CA's certificate: %w", err)
	}
	r.step(c.Name, "chain", fmt.Sprintf("complete: %s", describeChain(bundle)))
	files := store.Files{Cert: bundle.CertPEM(), Chain: bundle.ChainPEM(), Fullchain: bundle.FullchainPEM(), Key: issued.KeyPEM}
	version, err := r.Store.SaveVersion(c.Name, files)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	r.step(c.Name, "stored", fmt.Sprintf("%s -> %s", r.Store.LiveDir(c.Name), version))
	crashpoint.Hit("renew-stored")

	r.mu.Lock()
	rec := r.record(c)
	store.RecordFromCert(rec, bundle.Leaf)
	rec.Version = version
	err = r.Store.SaveState(r.state)
	r.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("save state: %w", err)
	}
	crashpoint.Hit("renew-recorded")
	r.Log.Info("issued and stored", zap.String("certificate", c.Name), zap.Strings("domains", c.Domains), zap.String("serial", rec.Serial),
		zap.String("version", version), zap.Duration("duration", time.Since(start)))
	return r.item(c, files, bundle.Leaf, version), nil
}

// dryChain judges the chain of a dry-run order, which is not stored. A
// staging CA's root is in no trust store, so a chain complete up to an
// untrusted root passes, saying so.
func (r *Renewer) dryChain(c *config.Certificate, bundle *chain.Bundle, err error) error {
	var inc *chain.IncompleteError
	switch {
	case err == nil:
		r.step(c.Name, "chain", fmt.Sprintf("complete: %s", describeChain(bundle)))
		return nil
	case errors.As(err, &inc) && inc.UntrustedRoot():
		r.step(c.Name, "chain", fmt.Sprintf("complete up to %q, a root this machine does not trust (normal for a staging CA; add it to trust.extra_roots to check the whole path)", inc.Issuer))
		return nil
	}
	return fmt.Errorf("the CA's certificate would be refused: %w", err)
}

// stored returns the live version of c for a deploy without a new order.
func (r *Renewer) stored(c *config.Certificate) (*deploy.Item, error) {
	files, version, err := r.Store.Live(c.Name)
	if err != nil {
		return nil, fmt.Errorf("load the stored certificate to deploy: %w", err)
	}
	// Re-check what is about to be deployed: the disk may have changed.
	leaf, err := r.checkFiles(c, files)
	if err != nil {
		return nil, fmt.Errorf("stored version %s: %w", version, err)
	}
	r.step(c.Name, "stored", fmt.Sprintf("deploying stored version %s (no new order)", version))
	return r.item(c, files, leaf, version), nil
}

func (r *Renewer) item(c *config.Certificate, files store.Files, leaf *x509.Certificate, version string) *deploy.Item {
	return &deploy.Item{Name: c.Name, Domains: c.Domains, Deploy: c.Deploy, Files: files, Leaf: leaf,
		Version: version, LiveDir: r.Store.LiveDir(c.Name)}
}

// preflight checks what can be checked before an ACME order, so that a
// local mistake does not spend an order (and a CA rate limit).
func preflight(c *config.Certificate) error {
	if w := c.Challenge.HTTP01.Webroot; c.Challenge.Type == "http-01" && w != "" {
		fi, err := os.Stat(w)
		if err != nil {
			return fmt.Errorf("http-01 webroot: %w (create it and point nginx's location /.well-known/acme-challenge/ at it)", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("http-01 webroot %s is not a directory", w)
		}
	}
	return deploy.Preflight(c.Deploy)
}

func describeChain(b *chain.Bundle) string {
	leaf := b.Leaf.Subject.CommonName
	if leaf == "" && len(b.Leaf.DNSNames) > 0 {
		leaf = b.Leaf.DNSNames[0] // CAs may leave the CN out (Pebble, LE shortlived)
	}
	s := fmt.Sprintf("leaf %q", leaf)
	for _, ic := range b.Intermediates {
		s += fmt.Sprintf(" <- %q", ic.Subject.CommonName)
	}
	if n := len(b.Intermediates); n > 0 {
		s += fmt.Sprintf(" <- root %q", b.Intermediates[n-1].Issuer.CommonName)
	}
	return s
}

func isWaiting(rec *store.Record, now time.Time) bool {
	return rec != nil && rec.NextRetryTime != nil && now.Before(*rec.NextRetryTime)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func joinDomains(d []string) string {
	if len(d) <= 3 {
		return fmt.Sprint(d)
	}
	return fmt.Sprintf("%v and %d more", d[:3], len(d)-3)
}
