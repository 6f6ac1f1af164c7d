package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/daemon"
	"github.com/renewd/renewd/internal/memtrim"
	"github.com/renewd/renewd/internal/renew"
	"github.com/renewd/renewd/internal/store"
)

func cmdRun(ctx context.Context, g globals, args []string, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	if pos, err := parseInterspersed(fs, args); err != nil || len(pos) > 0 {
		if err == nil {
			printUsage(fs)
		}
		return flagError(fs, err)
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
	st, _, err := openStorage(cfg, false)
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
	var cn *clusterNode
	if cfg.Cluster.Enabled() {
		if cn, err = startCluster(ctx, cfg, st, log); err != nil {
			return err
		}
		defer cn.stop()
		cn.watchOutages(al, obs, cfg.Cluster.Etcd.DialTimeout)
		if obs != nil {
			cn.onRecords = obs.setRecords
		}
	}
	d := &daemon.Daemon{
		Log:  log.Named("daemon"),
		Load: runtimeLoader(g, st.Dir(), log, al, obs, cn),
		Idle: func() {
			before, after := memtrim.Trim()
			log.Debug("gave memory back between passes", zap.Int64("rss_before_kib", before), zap.Int64("rss_after_kib", after))
		},
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
func runtimeLoader(g globals, storage string, log *zap.Logger, al *alerts, obs *observer, cn *clusterNode) daemon.Loader {
	return func() (*daemon.Runtime, error) {
		cfg, err := loadConfig(g)
		if err != nil {
			return nil, err
		}
		st, roots, err := openStorage(cfg, false)
		if err != nil {
			return nil, err
		}
		if st.Dir() != storage {
			return nil, fmt.Errorf("storage changed from %s to %s; restart renewd to use another storage directory", storage, st.Dir())
		}
		progress := newLogProgress(log.Named("renew"), cfg)
		r, err := newRenewer(cfg, st, roots, log, progress, obs.acmeObserver(), cn.acmeOptions()...)
		if err != nil {
			return nil, err
		}
		al.configure(cfg.Notify, cfg.Cluster.Node)
		obs.configure(cfg)
		pass := func(ctx context.Context, opts renew.Options) (*renew.Report, error) {
			rep, err := r.Pass(ctx, opts)
			obs.observe(rep, err)
			if err == nil {
				al.send(rep)
			}
			return rep, err
		}
		rt := &daemon.Runtime{
			Schedule: cfg.Schedule,
			Renew: func(ctx context.Context) (string, error) {
				// Waits as long as it takes while a `renew --now` runs.
				rep, err := pass(ctx, renew.Options{Wait: store.WaitForever})
				if err != nil {
					return "", err
				}
				return countOutcomes(rep.Results).String(), nil
			},
		}
		if cn != nil {
			cn.configure(cfg, r, roots, pass, progress)
			rt.Renew, rt.Kick = cn.renew, cn.kick
		}
		return rt, nil
	}
}

// logProgress turns renewal steps into one structured log line each, with
// the certificate's domains and the time since its first step in this run.
// The serial is on the lines that have one: "renewed", "issued and
// stored", and the details of "verify" and "done".
type logProgress struct {
	log     *zap.Logger
	domains map[string][]string

	mu    sync.Mutex
	start map[string]time.Time // first step of each certificate in this run
}

func newLogProgress(log *zap.Logger, cfg *config.Config) *logProgress {
	p := &logProgress{log: log, domains: map[string][]string{}, start: map[string]time.Time{}}
	for _, c := range cfg.Certificates {
		p.domains[c.Name] = c.Domains
	}
	return p
}

func (p *logProgress) Step(name, step, detail string) {
	now := time.Now()
	p.mu.Lock()
	first, ok := p.start[name]
	switch {
	case !ok:
		first = now
		p.start[name] = now
	case step == "done" || step == "failed" || step == "held" || step == "stopped":
		delete(p.start, name) // the next run starts its clock again
	}
	p.mu.Unlock()
	log := p.log.Info
	if step == "failed" {
		log = p.log.Warn // the one record of a failure, with its cause
	}
	log(step, zap.String("certificate", name), zap.Strings("domains", p.domains[name]), zap.String("step", step),
		zap.String("detail", detail), zap.Duration("elapsed", now.Sub(first)))
}
