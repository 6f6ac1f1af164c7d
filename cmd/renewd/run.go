package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/daemon"
	"github.com/renewd/renewd/internal/renew"
	"github.com/renewd/renewd/internal/store"
)

func cmdRun(ctx context.Context, g globals, args []string, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	if pos, err := parseInterspersed(fs, args); err != nil || len(pos) > 0 {
		return fail(exitUsage, "usage: renewd run")
	}
	log, err := newLogger(g.logLevel, "info")
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	cfg, err := loadConfig(g)
	if err != nil {
		return err
	}
	st, _, err := openStorage(cfg)
	if err != nil {
		return err
	}
	dlock, err := st.TryDaemonLock()
	if errors.Is(err, store.ErrDaemonRunning) {
		return fail(exitLocked, "another `renewd run` already uses %s (%v); stop it first, or use `renewd renew --now` for a one-off renewal", st.Dir(), err)
	}
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	defer func() { _ = dlock.Unlock() }()

	hup := make(chan struct{}, 1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	defer signal.Stop(sig)
	go func() {
		for range sig {
			select {
			case hup <- struct{}{}:
			default: // a reload is already pending
			}
		}
	}()

	al := newAlerts(log)
	defer al.close()
	obs, err := startMetrics(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	d := &daemon.Daemon{
		Log:  log.Named("daemon"),
		Load: runtimeLoader(g, st.Dir(), log, al, obs),
	}
	// Long enough for a deploy in flight to roll back (nginx test and
	// reload, the reload after a rollback, the served-chain check), and
	// below the unit's TimeoutStopSec=2min.
	d.StopTimeout = min(3*cfg.Nginx.Timeout+cfg.Nginx.Verify.Timeout+10*time.Second, 110*time.Second)
	wireSystemd(d)
	err = d.Run(ctx, hup)
	switch {
	case errors.Is(err, daemon.ErrStopTimeout):
		return fail(exitFailed, "%v", err)
	case err != nil:
		return fail(exitUsage, "%v", err) // the configuration did not load
	}
	return nil
}

// runtimeLoader reads the configuration and builds a renewal pass from it,
// at start and on every SIGHUP. The storage directory cannot change under
// a running daemon: it holds that directory's daemon lock.
func runtimeLoader(g globals, storage string, log *zap.Logger, al *alerts, obs *observer) daemon.Loader {
	return func() (*daemon.Runtime, error) {
		cfg, err := loadConfig(g)
		if err != nil {
			return nil, err
		}
		st, roots, err := openStorage(cfg)
		if err != nil {
			return nil, err
		}
		if st.Dir() != storage {
			return nil, fmt.Errorf("storage changed from %s to %s; restart renewd to use another storage directory", storage, st.Dir())
		}
		r, err := newRenewer(cfg, st, roots, log, &logProgress{log: log.Named("renew")})
		if err != nil {
			return nil, err
		}
		al.configure(cfg.Notify)
		obs.configure(cfg, r)
		return &daemon.Runtime{
			Schedule: cfg.Schedule,
			Renew: func(ctx context.Context) (string, error) {
				lock, err := st.Lock(ctx) // waits while a `renew --now` runs
				if err != nil {
					return "", err
				}
				defer func() { _ = lock.Unlock() }()
				prev := al.before(st)
				start := time.Now()
				results, err := r.Run(ctx, renew.Options{})
				al.after(st, prev)
				obs.observe(results, time.Since(start), err)
				if err != nil {
					return "", err
				}
				return countOutcomes(results).String(), nil
			},
		}, nil
	}
}

// logProgress turns renewal steps into one structured log line each.
type logProgress struct{ log *zap.Logger }

func (p *logProgress) Step(name, step, detail string) {
	p.log.Info(step, zap.String("certificate", name), zap.String("step", step), zap.String("detail", detail))
}
