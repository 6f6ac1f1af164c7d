package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/renewd/renewd/internal/renew"
)

// Metrics holds renewd's metrics and the registry they are served from.
// Its methods are safe for concurrent use.
type Metrics struct {
	reg          *prometheus.Registry
	attempts     *prometheus.CounterVec
	canaryHolds  prometheus.Counter
	runs         *prometheus.CounterVec
	runDuration  prometheus.Histogram
	acmeDuration *prometheus.HistogramVec
	lastRun      *runTimes
	etcd         *etcdState

	// Test seam: the clock of the last-run timestamps (time.Now when nil).
	now func() time.Time
}

// Result label values of renewd_renewal_attempts_total. renew.NotDue is
// no attempt and is not counted.
var attemptResults = map[renew.Outcome]string{
	renew.Renewed:     "renewed",
	renew.Failed:      "failed",
	renew.Held:        "held",
	renew.Interrupted: "interrupted",
}

// Buckets: a pass with nothing due takes milliseconds, one that orders
// certificates takes seconds to minutes (DNS propagation, nginx reloads);
// one ACME request takes tens of milliseconds, finalize up to seconds.
var (
	runBuckets  = []float64{0.01, 0.1, 1, 5, 15, 30, 60, 120, 300, 600, 1800}
	acmeBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

// New builds the metrics. status returns the rows `renewd status` shows; it
// is called at every scrape, possibly from concurrent scrapes at once, so
// it must be cheap (the daemon's builds them from the records it holds in
// memory). When it fails, the scrape counts the failure in
// renewd_state_read_errors_total and omits the per-certificate series.
// version is the build's version for renewd_build_info.
func New(version string, status func() ([]renew.Status, error), opts ...Option) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "renewd_renewal_attempts_total",
			Help: "Renewal attempts by certificate and result: renewed, failed, held (not attempted because a canary failed) or interrupted (by shutdown).",
		}, []string{"certificate", "result"}),
		canaryHolds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "renewd_canary_holds_total",
			Help: "Passes in which a failed canary held the other due certificates back.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "renewd_runs_total",
			Help: "Renewal passes by result: ok (the pass ran; see renewd_renewal_attempts_total for each certificate) or failed (it could not run).",
		}, []string{"result"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "renewd_run_duration_seconds",
			Help:    "How long renewal passes took.",
			Buckets: runBuckets,
		}),
		acmeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "renewd_acme_request_duration_seconds",
			Help:    "Latency of HTTP requests to the ACME CA until the answer's headers, by method, endpoint and HTTP status (0: no answer).",
			Buckets: acmeBuckets,
		}, []string{"method", "endpoint", "code"}),
		lastRun: &runTimes{},
		etcd:    &etcdState{},
	}
	m.runs.WithLabelValues("ok")
	m.runs.WithLabelValues("failed")
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "renewd_build_info",
		Help:        "Always 1; the labels say which renewd runs.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var reg prometheus.Registerer = m.reg
	if o.node != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"node": o.node}, m.reg)
	}
	reg.MustRegister(
		m.attempts, m.canaryHolds, m.runs, m.runDuration, m.acmeDuration, m.lastRun, m.etcd, buildInfo,
		newCollector(status),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Option configures New.
type Option func(*options)

type options struct{ node string }

// WithNode labels every series with node="name": the node of a cluster
// (docs/cluster.md), so that a dashboard of the fleet tells them apart
// whatever the scrape's instance label says.
func WithNode(name string) Option { return func(o *options) { o.node = name } }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveResults counts the attempts of one pass by certificate and result,
// and the pass as a canary hold when any certificate was held. Every
// certificate in results gets all its result series, at 0 until they
// happen, so that rate() and increase() see the first one.
func (m *Metrics) ObserveResults(results []renew.Result) {
	held := false
	for _, r := range results {
		for _, label := range attemptResults {
			m.attempts.WithLabelValues(r.Name, label)
		}
		if label, ok := attemptResults[r.Outcome]; ok {
			m.attempts.WithLabelValues(r.Name, label).Inc()
		}
		held = held || r.Outcome == renew.Held
	}
	if held {
		m.canaryHolds.Inc()
	}
}

// ObserveRun records a pass that ended now after d: its duration, its
// result (failed when err, the error of the pass as a whole, is not nil)
// and its end time.
func (m *Metrics) ObserveRun(d time.Duration, err error) {
	m.runDuration.Observe(d.Seconds())
	now := time.Now
	if m.now != nil {
		now = m.now
	}
	ok := err == nil
	if ok {
		m.runs.WithLabelValues("ok").Inc()
	} else {
		m.runs.WithLabelValues("failed").Inc()
	}
	m.lastRun.record(now(), ok)
}

// ObserveACMERequest records one HTTP request to the CA; its signature is
// acme.Client.ObserveRequest's. code is the HTTP status, 0 when no answer
// came.
func (m *Metrics) ObserveACMERequest(method, endpoint string, code int, d time.Duration) {
	m.acmeDuration.WithLabelValues(method, endpoint, strconv.Itoa(code)).Observe(d.Seconds())
}

// ObserveEtcd records whether this cluster node reaches etcd; since is
// when the outage began (ignored while reachable). The series appear with
// the first call: a renewd without a cluster has none.
func (m *Metrics) ObserveEtcd(reachable bool, since time.Time) {
	m.etcd.set(reachable, since)
}

// etcdState exposes a cluster node's view of etcd: reachable or not, and
// since when not.
type etcdState struct {
	mu        sync.Mutex
	known     bool
	reachable bool
	since     time.Time
}

var _ prometheus.Collector = (*etcdState)(nil)

var (
	etcdReachableDesc = prometheus.NewDesc("renewd_cluster_etcd_reachable",
		"1 while this cluster node reaches etcd, 0 while it cannot (it orders and deploys nothing then, and serves what it has).", nil, nil)
	etcdDownSinceDesc = prometheus.NewDesc("renewd_cluster_etcd_unreachable_since_timestamp_seconds",
		"When this cluster node lost etcd. Absent while it reaches etcd.", nil, nil)
)

func (e *etcdState) set(reachable bool, since time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.known, e.reachable, e.since = true, reachable, since
}

// Describe implements prometheus.Collector.
func (e *etcdState) Describe(ch chan<- *prometheus.Desc) {
	ch <- etcdReachableDesc
	ch <- etcdDownSinceDesc
}

// Collect implements prometheus.Collector.
func (e *etcdState) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	known, reachable, since := e.known, e.reachable, e.since
	e.mu.Unlock()
	if !known {
		return
	}
	v := 0.0
	if reachable {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(etcdReachableDesc, prometheus.GaugeValue, v)
	if !reachable && !since.IsZero() {
		ch <- prometheus.MustNewConstMetric(etcdDownSinceDesc, prometheus.GaugeValue, seconds(since))
	}
}

// runTimes exposes when the last pass and the last successful pass ended.
// Each series appears once there was such a pass: a 0 would read as "long
// ago" and fire alerts while the first pass still runs.
type runTimes struct {
	mu     sync.Mutex
	last   time.Time
	lastOK time.Time
}

var _ prometheus.Collector = (*runTimes)(nil)

var (
	lastRunDesc = prometheus.NewDesc("renewd_last_run_timestamp_seconds",
		"When the last renewal pass ended, successful or not.", nil, nil)
	lastOKRunDesc = prometheus.NewDesc("renewd_last_successful_run_timestamp_seconds",
		"When the last renewal pass that ran (renewd_runs_total{result=\"ok\"}) ended.", nil, nil)
)

func (r *runTimes) record(at time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = at
	if ok {
		r.lastOK = at
	}
}

// Describe implements prometheus.Collector.
func (r *runTimes) Describe(ch chan<- *prometheus.Desc) {
	ch <- lastRunDesc
	ch <- lastOKRunDesc
}

// Collect implements prometheus.Collector.
func (r *runTimes) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	last, lastOK := r.last, r.lastOK
	r.mu.Unlock()
	if !last.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastRunDesc, prometheus.GaugeValue, seconds(last))
	}
	if !lastOK.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastOKRunDesc, prometheus.GaugeValue, seconds(lastOK))
	}
}

// seconds is t as a Prometheus timestamp value: seconds since 1970.
func seconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
