package main

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/metrics"
	"github.com/renewd/renewd/internal/renew"
	"github.com/renewd/renewd/internal/store"
)

// observer feeds the daemon's Prometheus metrics from memory: the records
// are read once at start and replaced by each pass's report, so a scrape
// parses nothing. A change made by a `renewd renew` in another process
// shows after the daemon's next pass. A nil *observer (no metrics.listen)
// does nothing.
type observer struct {
	m       *metrics.Metrics
	cfg     atomic.Pointer[config.Config]            // the configuration in force, for status rows
	records atomic.Pointer[map[string]*store.Record] // the last pass's records
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
	var recs map[string]*store.Record
	var mopts []metrics.Option
	if cfg.Cluster.Enabled() {
		mopts = append(mopts, metrics.WithNode(cfg.Cluster.Node))
		recs, err = statusRecords(cfg) // the cluster's, from etcd
	} else {
		recs, _, err = st.Records()
	}
	if err != nil {
		log.Warn("records unreadable at start; metrics show them after the first pass", zap.Error(err))
		recs = map[string]*store.Record{}
	}
	o.records.Store(&recs)
	o.m = metrics.New(version, func() ([]renew.Status, error) {
		return renew.StatusRows(o.cfg.Load(), *o.records.Load(), time.Now().UTC()), nil
	}, mopts...)
	mlog := log.Named("metrics")
	go func() {
		if err := metrics.Serve(ctx, l, o.m.Handler(), mlog); err != nil {
			mlog.Error("metrics server stopped", zap.Error(err))
		}
	}()
	return o, nil // metrics.Serve says "serving metrics", once
}

// configure points the metrics at a newly loaded configuration.
func (o *observer) configure(cfg *config.Config) {
	if o == nil {
		return
	}
	o.cfg.Store(cfg)
}

// acmeObserver times the ACME requests of a renewer; nil without metrics.
func (o *observer) acmeObserver() func(method, endpoint string, code int, d time.Duration) {
	if o == nil {
		return nil
	}
	return o.m.ObserveACMERequest
}

// setRecords replaces the records the metrics show: a cluster follower's
// tick reads them from etcd, since its own passes order nothing.
func (o *observer) setRecords(recs map[string]*store.Record) {
	if o != nil && recs != nil {
		o.records.Store(&recs)
	}
}

// observeEtcd records whether this cluster node reaches etcd.
func (o *observer) observeEtcd(reachable bool, since time.Time) {
	if o != nil {
		o.m.ObserveEtcd(reachable, since)
	}
}

// observe records one renewal pass.
func (o *observer) observe(rep *renew.Report, err error) {
	if o == nil {
		return
	}
	if rep == nil {
		o.m.ObserveRun(0, err)
		return
	}
	after := rep.After
	o.records.Store(&after)
	o.m.ObserveResults(rep.Results)
	o.m.ObserveRun(rep.End.Sub(rep.Start), err)
}
