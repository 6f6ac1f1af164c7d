package main

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/metrics"
	"github.com/renewd/renewd/internal/renew"
	"github.com/renewd/renewd/internal/store"
)

// observer feeds the daemon's Prometheus metrics; a nil *observer (no
// metrics.listen) does nothing.
type observer struct {
	m   *metrics.Metrics
	cfg atomic.Pointer[config.Config] // the configuration in force, for status rows
}

// startMetrics serves metrics on cfg.Metrics.Listen until ctx ends. A port
// that cannot be opened stops the daemon before it starts: monitoring that
// silently is not there is worse than a daemon that says why it will not
// run. The listen address is read at start only; a SIGHUP does not move it.
func startMetrics(ctx context.Context, cfg *config.Config, st *store.Store, log *zap.Logger) (*observer, error) {
	if cfg.Metrics.Listen == "" {
		return nil, nil
	}
	l, err := metrics.Listen(cfg.Metrics.Listen)
	if err != nil {
		return nil, fail(exitFailed, "%v (change metrics.listen, or leave it empty to serve no metrics)", err)
	}
	o := &observer{}
	o.cfg.Store(cfg)
	o.m = metrics.New(version, func() ([]renew.Status, error) {
		state, err := st.PeekState()
		if err != nil {
			return nil, err
		}
		return renew.StatusRows(o.cfg.Load(), state, time.Now().UTC()), nil
	})
	mlog := log.Named("metrics")
	go func() {
		if err := metrics.Serve(ctx, l, o.m.Handler(), mlog); err != nil {
			mlog.Error("metrics server stopped", zap.Error(err))
		}
	}()
	mlog.Info("serving metrics", zap.String("address", l.Addr().String()))
	return o, nil
}

// configure points the metrics at a newly loaded configuration and times
// the ACME requests of its renewer.
func (o *observer) configure(cfg *config.Config, r *renew.Renewer) {
	if o == nil {
		return
	}
	o.cfg.Store(cfg)
	if c, ok := r.Issuer.(*acme.Client); ok {
		c.ObserveRequest = o.m.ObserveACMERequest
	}
}

// observe records one renewal pass.
func (o *observer) observe(results []renew.Result, d time.Duration, err error) {
	if o == nil {
		return
	}
	o.m.ObserveResults(results)
	o.m.ObserveRun(d, err)
}
