package renew

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// Issuer orders a certificate. *acme.Client is the real one. Obtain must
// honour ctx and may be called concurrently.
type Issuer interface {
	Obtain(ctx context.Context, cert *config.Certificate) (*acme.Issued, error)
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

	// Test seams. Zero values use the real clock, jitter and AIA fetcher.
	Now     func() time.Time
	Jitter  func() float64
	Fetcher chain.Fetcher

	mu    sync.Mutex // guards state and its file
	state *store.State
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
	if rebuilt {
		r.Log.Info("state.json was missing or unreadable; rebuilt from live certificates", zap.Int("certificates", len(st.Certificates)))
	}
	r.state = st

	now := r.now()
	var canaries, others []*config.Certificate
	results := make(map[string]*Result, len(certs))
	for _, c := range certs {
		p := Decide(c, st.Certificates[c.Name], now, opts.Force)
		results[c.Name] = &Result{Name: c.Name, Outcome: NotDue, Plan: p, Record: st.Certificates[c.Name]}
		switch {
		case c.Canary:
			canaries = append(canaries, c)
		case p.Due:
			others = append(others, c)
		}
	}
	// A canary runs in every run that has work, due or not: it proves the
	// CA, the challenge and the deploy path before the real certificates.
	var dueCanaries []*config.Certificate
	for _, c := range canaries {
		if results[c.Name].Plan.Due || len(others) > 0 {
			dueCanaries = append(dueCanaries, c)
		}
	}

	r.runAll(ctx, dueCanaries, results)
	var canaryErr error
	for _, c := range dueCanaries {
		if res := results[c.Name]; res.Outcome == Failed {
			canaryErr = fmt.Errorf("canary %s failed: %w", c.Name, res.Err)
			break
		}
	}
	if canaryErr != nil {
		for _, c := range others {
			res := results[c.Name]
			res.Outcome, res.Err = Held, canaryErr
			r.step(c.Name, "held", canaryErr.Error())
		}
	} else {
		r.runAll(ctx, others, results)
	}

	out := make([]Result, 0, len(certs))
	for _, c := range certs {
		out = append(out, *results[c.Name])
	}
	return out, nil
}

func (r *Renewer) selectCerts(names []string) ([]*config.Certificate, error) {
	if len(names) == 0 {
		return r.Config.Certificates, nil
	}
	var out []*config.Certificate
	for _, n := range names {
		c := r.Config.Certificate(n)
		if c == nil {
			return nil, fmt.Errorf("no certificate named %q in %s", n, r.Config.DomainsDir)
		}
		out = append(out, c)
	}
	return out, nil
}

// runAll renews certs with at most Config.Concurrency at a time.
func (r *Renewer) runAll(ctx context.Context, certs []*config.Certificate, results map[string]*Result) {
	sem := make(chan struct{}, max(1, r.Config.Concurrency))
	var wg sync.WaitGroup
	for _, c := range certs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				r.finish(c, results[c.Name], ctx.Err())
				return
			}
			defer func() { <-sem }()
			err := r.renewOneSafely(ctx, c)
			r.finish(c, results[c.Name], err)
		}()
	}
	wg.Wait()
}

// renewOneSafely turns a panic in one renewal into that renewal's failure,
// so a bug triggered by one certificate cannot take the others (or a
// daemon) down with it.
func (r *Renewer) renewOneSafely(ctx context.Context, c *config.Certificate) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.Log.Error("renewal panicked", zap.String("certificate", c.Name), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	return r.renewOne(ctx, c)
}

// finish records the outcome of one renewal in state.json.
func (r *Renewer) finish(c *config.Certificate, res *Result, err error) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.state.Certificates[c.Name]
	if rec == nil {
		rec = &store.Record{Name: c.Name, Domains: c.Domains}
		r.state.Certificates[c.Name] = rec
	}
	if err != nil {
		RecordFailure(rec, err, now, r.Config.Retry, r.jitter())
		res.Outcome, res.Err = Failed, err
		r.step(c.Name, "failed", fmt.Sprintf("%v (retry %d at %s)", err, rec.RetryCount, rec.NextRetryTime.Format(time.RFC3339)))
		r.Log.Warn("renewal failed", zap.String("certificate", c.Name), zap.Strings("domains", c.Domains),
			zap.Int("retry_count", rec.RetryCount), zap.Timep("next_retry_time", rec.NextRetryTime), zap.Error(err))
	} else {
		res.Outcome = Renewed
	}
	res.Record = rec
	if serr := r.Store.SaveState(r.state); serr != nil {
		r.Log.Error("save state", zap.Error(serr))
		if res.Err == nil {
			res.Outcome, res.Err = Failed, fmt.Errorf("save state: %w", serr)
		}
	}
}

// renewOne is the pipeline for one certificate: preflight, order, check
// and complete the chain, store. On success the record is updated under the
// lock; on failure nothing on disk changes and the caller records it.
func (r *Renewer) renewOne(ctx context.Context, c *config.Certificate) error {
	start := time.Now()
	log := r.Log.With(zap.String("certificate", c.Name), zap.Strings("domains", c.Domains))
	if err := preflight(c); err != nil {
		return err
	}
	r.step(c.Name, "order", fmt.Sprintf("%s for %s", c.Challenge.Type, joinDomains(c.Domains)))
	issued, err := r.Issuer.Obtain(ctx, c)
	if err != nil {
		return err
	}
	fetcher := r.Fetcher
	if fetcher == nil {
		fetcher = &chain.HTTPFetcher{}
	}
	bundle, err := chain.Build(ctx, issued.Certs, issued.Key, c.Domains, chain.Options{Roots: r.Roots, Now: r.now(), Fetcher: fetcher})
	if err != nil {
		return fmt.Errorf("refusing the CA's certificate: %w", err)
	}
	r.step(c.Name, "chain", fmt.Sprintf("complete: %s", describeChain(bundle)))
	version, err := r.Store.SaveVersion(c.Name, store.Files{
		Cert: bundle.CertPEM(), Chain: bundle.ChainPEM(), Fullchain: bundle.FullchainPEM(), Key: issued.KeyPEM,
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	r.step(c.Name, "stored", fmt.Sprintf("%s -> %s", r.Store.LiveDir(c.Name), version))

	now := r.now()
	r.mu.Lock()
	rec := r.state.Certificates[c.Name]
	if rec == nil {
		rec = &store.Record{Name: c.Name}
		r.state.Certificates[c.Name] = rec
	}
	store.RecordFromCert(rec, bundle.Leaf)
	rec.Version = version
	RecordSuccess(rec, now)
	r.mu.Unlock()

	r.step(c.Name, "done", fmt.Sprintf("serial %s, valid until %s", rec.Serial, rec.NotAfter.Format(time.RFC3339)))
	log.Info("renewed", zap.String("serial", rec.Serial), zap.Timep("not_after", rec.NotAfter),
		zap.String("version", version), zap.Duration("duration", time.Since(start)))
	return nil
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
	return nil
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

func joinDomains(d []string) string {
	if len(d) <= 3 {
		return fmt.Sprint(d)
	}
	return fmt.Sprintf("%v and %d more", d[:3], len(d)-3)
}
