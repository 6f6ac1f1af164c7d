package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/renew"
	"github.com/renewd/renewd/internal/store"
)

func cmdRenew(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("renew", stderr)
	now := fs.Bool("now", false, "renew the named (or all) certificates now, due or not")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for a renewal another renewd process is running")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return &exitError{code: exitUsage}
	}
	log, err := newLogger(g.logLevel, "warn")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	for _, n := range names {
		if cfg.Certificate(n) == nil {
			return fail(exitUsage, "no certificate named %q in %s", n, cfg.DomainsDir)
		}
	}
	st, roots, err := openStorage(cfg)
	if err != nil {
		return err
	}
	lock, err := takeLock(ctx, st, *wait, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Unlock() }()

	client, err := acme.New(cfg.ACME, st.AccountsDir(), log.Named("acme"))
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	progress := &lineProgress{w: stdout}
	r := &renew.Renewer{
		Config: cfg, Store: st, Issuer: client, Roots: roots,
		Log: log.Named("renew"), Progress: progress,
		Deployer: &deploy.Deployer{Nginx: cfg.Nginx, Roots: roots, Log: log.Named("deploy"), Progress: progress.Step},
	}
	results, err := r.Run(ctx, renew.Options{Force: *now, Names: names})
	if err != nil {
		return err
	}
	return summarize(results, stdout)
}

// openStorage opens the store (proving it writable before any ACME request)
// and loads the trust roots chains must verify to.
func openStorage(cfg *config.Config) (*store.Store, *x509.CertPool, error) {
	st, err := store.Open(cfg.Storage)
	if err != nil {
		return nil, nil, fail(exitUsage, "storage: %v", err)
	}
	roots, err := chain.LoadRoots(cfg.Trust.ExtraRoots)
	if err != nil {
		return nil, nil, fail(exitUsage, "trust.extra_roots: %v", err)
	}
	return st, roots, nil
}

// takeLock takes the storage lock, waiting up to wait (visibly) when another
// renewd process holds it.
func takeLock(ctx context.Context, st *store.Store, wait time.Duration, stderr io.Writer) (*store.Lock, error) {
	lock, err := st.TryLock()
	if err == nil {
		return lock, nil
	}
	if !errors.Is(err, store.ErrLocked) {
		return nil, fail(exitFailed, "lock: %v", err)
	}
	fmt.Fprintf(stderr, "renewd: waiting for the running renewal (another renewd holds %s/renewd.lock; up to %s)\n", st.Dir(), wait)
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	lock, err = st.Lock(wctx)
	if err != nil {
		return nil, fail(exitLocked, "another renewal is still running after %s; try again later or pass a longer --wait", wait)
	}
	return lock, nil
}

// lineProgress prints one line per step and certificate.
type lineProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *lineProgress) Step(name, step, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%-16s %-7s %s\n", name, step, detail)
}

// summarize prints the outcome per certificate and turns failures into exit 1.
func summarize(results []renew.Result, w io.Writer) error {
	var renewed, failed, held, idle int
	for _, res := range results {
		switch res.Outcome {
		case renew.Renewed:
			renewed++
		case renew.Failed:
			failed++
		case renew.Held:
			held++
		case renew.Interrupted:
			failed++
		default:
			idle++
			when := "-"
			if !res.Plan.At.IsZero() {
				when = res.Plan.At.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%-16s %-7s next renewal %s (%s)\n", res.Name, "not due", when, res.Plan.Reason)
		}
	}
	fmt.Fprintf(w, "%d renewed, %d failed, %d held by canary, %d not due\n", renewed, failed, held, idle)
	if failed+held > 0 {
		return &exitError{code: exitFailed}
	}
	return nil
}
