package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/crashpoint"
	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/renew"
	"github.com/renewd/renewd/internal/store"
)

func cmdRenew(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("renew", stderr)
	now := fs.Bool("now", false, "renew the named (or all) certificates now, due or not")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for a renewal another renewd process is running")
	skipCanary := fs.Bool("skip-canary", false, "emergency only: order no canary that is not named, and hold nothing behind one")
	dryRun := fs.Bool("dry-run", false, "order from acme.staging_directory and check everything; store, deploy and record nothing")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	log, err := newLogger(g.logLevel, "warn")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	cfg, err := loadConfigFor(g, names, !*skipCanary, stderr)
	if err != nil {
		return err
	}
	if err := checkNames(cfg, names); err != nil {
		return err
	}
	if cfg.Cluster.Enabled() && !*dryRun {
		return clusterRenew(ctx, cfg, names, *now, *skipCanary, *wait, stdout, log)
	}
	if *dryRun {
		if cfg, err = cfg.ForDryRun(); err != nil {
			return fail(exitUsage, "%v", err)
		}
		fmt.Fprintf(stdout, "dry run against %s: nothing is stored, deployed or recorded\n", cfg.ACME.Directory)
	}
	st, roots, err := openStorage(cfg, *dryRun)
	if err != nil {
		return err
	}
	// Deferred first, so the flush of queued notifications runs after the
	// pass (and its lock) is over.
	al := newAlerts(log)
	if !*dryRun { // a dry run changes no record: nothing to announce
		al.configure(cfg.Notify, cfg.Cluster.Node)
	}
	defer al.close()

	r, err := newRenewer(cfg, st, roots, log, &lineProgress{w: stdout, errw: stderr}, nil)
	if err != nil {
		return err
	}
	if *skipCanary {
		fmt.Fprintln(stderr, "renewd: WARNING: --skip-canary: no canary is ordered unless named, and nothing is held behind one; a broken CA, challenge or nginx setup will hit all of them")
		log.Warn("canary gating skipped on request (--skip-canary)")
	}
	rep, err := r.Pass(ctx, renew.Options{
		Force: *now, Names: names, SkipCanary: *skipCanary, DryRun: *dryRun, Wait: *wait,
		Waiting: func() {
			fmt.Fprintf(stderr, "renewd: waiting for the running renewal (another renewd holds %s/renewd.lock; up to %s)\n", st.Dir(), *wait)
		},
	})
	switch {
	case errors.Is(err, store.ErrLocked):
		return fail(exitLocked, "another renewal is still running after %s; try again later or pass a longer --wait", *wait)
	case err != nil:
		return fail(exitFailed, "%v", err)
	}
	al.send(rep)
	return summarize(rep.Results, stdout, *dryRun)
}

// newRenewer wires the ACME client, the deployer and the renewer for cfg.
// observe, when set, times every request to the CA (metrics).
func newRenewer(cfg *config.Config, st *store.Store, roots *x509.CertPool, log *zap.Logger, progress renew.Progress,
	observe func(method, endpoint string, code int, d time.Duration), opts ...acme.Option) (*renew.Renewer, error) {
	client, err := acme.New(cfg.ACME, st.AccountsDir(), log.Named("acme"), append([]acme.Option{acme.WithObserver(observe)}, opts...)...)
	if err != nil {
		return nil, fail(exitUsage, "%v", err)
	}
	return &renew.Renewer{
		Config: cfg, Store: st, Issuer: client, Roots: roots,
		Log: log.Named("renew"), Progress: progress, Now: crashpoint.Now,
		Deployer: &deploy.Deployer{Nginx: cfg.Nginx, Roots: roots, Log: log.Named("deploy"), Progress: progress.Step},
	}, nil
}

// openStorage opens the store for renewals (proving it writable before any
// ACME request), or read-only for a dry run, which changes no record, and
// loads the trust roots chains must verify to.
func openStorage(cfg *config.Config, readOnly bool) (*store.Store, *x509.CertPool, error) {
	open := store.Open
	if readOnly {
		open = store.OpenReadOnly
	}
	st, err := open(cfg.Storage)
	if err != nil {
		return nil, nil, fail(exitUsage, "storage: %v", err)
	}
	roots, err := chain.LoadRoots(cfg.Trust.ExtraRoots)
	if err != nil {
		return nil, nil, fail(exitUsage, "trust.extra_roots: %v", err)
	}
	return st, roots, nil
}

// lineProgress prints one line per step and certificate on w, and a
// failure on errw: the cause of a failure is said once, on one line, and
// reaches stderr when stdout goes to /dev/null (cron mails stderr).
type lineProgress struct {
	mu   sync.Mutex
	w    io.Writer
	errw io.Writer // nil: w
}

func (p *lineProgress) Step(name, step, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.w
	if step == "failed" && p.errw != nil {
		w = p.errw
	}
	fmt.Fprintf(w, "%-16s %-7s %s\n", name, step, acme.OneLine(detail))
}

// outcomes counts a run's results.
type outcomes struct{ renewed, failed, held, idle int }

func countOutcomes(results []renew.Result) outcomes {
	var o outcomes
	for _, res := range results {
		switch res.Outcome {
		case renew.Renewed:
			o.renewed++
		case renew.Failed, renew.Interrupted:
			o.failed++
		case renew.Held:
			o.held++
		default:
			o.idle++
		}
	}
	return o
}

func (o outcomes) String() string {
	return fmt.Sprintf("%d renewed, %d failed, %d held by canary, %d not due", o.renewed, o.failed, o.held, o.idle)
}

// summarize prints the outcome per certificate and turns failures into exit 1.
func summarize(results []renew.Result, w io.Writer, dryRun bool) error {
	for _, res := range results {
		if res.Outcome != renew.NotDue {
			continue
		}
		when := "-"
		if !res.Plan.At.IsZero() {
			when = res.Plan.At.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%-16s %-7s next renewal %s (%s)\n", res.Name, "not due", when, res.Plan.Reason)
	}
	o := countOutcomes(results)
	if dryRun {
		fmt.Fprint(w, "dry run: ")
	}
	fmt.Fprintln(w, o)
	if o.failed+o.held > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}
