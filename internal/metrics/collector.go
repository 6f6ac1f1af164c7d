package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/renewd/renewd/internal/renew"
)

// collector turns the rows of `renewd status` into series at every scrape,
// from the records its status function returns (the daemon's copy in
// memory: read at start, replaced after each pass).
type collector struct {
	status     func() ([]renew.Status, error)
	readErrors atomic.Uint64
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(status func() ([]renew.Status, error)) *collector {
	return &collector{status: status}
}

func certDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"certificate"}, nil)
}

var (
	stateReadErrorsDesc = prometheus.NewDesc("renewd_state_read_errors_total",
		"Scrapes that could not read the certificates' state; they have no per-certificate series.", nil, nil)
	certificatesDesc = prometheus.NewDesc("renewd_certificates",
		"Certificates in the configuration.", nil, nil)
	canaryFailingDesc = prometheus.NewDesc("renewd_canary_failing",
		"1 when any canary certificate's last attempt failed (retry_count > 0), else 0. While it fails, other due certificates that need an order are held, except those in their emergency window or expiring before its next retry (renewd_certificate_held_by_canary says which).", nil, nil)

	notAfterDesc = certDesc("renewd_certificate_not_after_timestamp_seconds",
		"When the live certificate expires. Absent before the first issuance.")
	nextRenewalDesc = certDesc("renewd_certificate_next_renewal_timestamp_seconds",
		"When renewd plans to renew the certificate next (the retry time after a failure). Absent when it is due now for want of a certificate.")
	retryCountDesc = certDesc("renewd_certificate_retries",
		"Failed attempts since the last success (retry_count in its record); 0 after a success.")
	nextRetryDesc = certDesc("renewd_certificate_next_retry_timestamp_seconds",
		"The earliest time the certificate is tried again after a failure. Absent when it is not failing.")
	lastSuccessDesc = certDesc("renewd_certificate_last_success_timestamp_seconds",
		"When the certificate was last renewed successfully. Absent before the first success.")
	lastFailureDesc = certDesc("renewd_certificate_last_failure_timestamp_seconds",
		"When an attempt to renew the certificate last failed; kept after a success. Absent if none ever failed.")
	servedCompleteDesc = certDesc("renewd_certificate_served_chain_complete",
		"1 when the chain nginx served after the last deploy verified complete, 0 when it did not. Absent when never checked.")
	servedCheckedDesc = certDesc("renewd_certificate_served_chain_checked_timestamp_seconds",
		"When the served chain was last checked. Absent when never checked.")
	heldDesc = certDesc("renewd_certificate_held_by_canary",
		"1 when the last pass did not attempt the certificate because a canary failed.")
	canaryDesc = certDesc("renewd_certificate_canary",
		"1 for a canary certificate, renewed before the others.")
)

var certDescs = []*prometheus.Desc{
	notAfterDesc, nextRenewalDesc, retryCountDesc, nextRetryDesc, lastSuccessDesc, lastFailureDesc,
	servedCompleteDesc, servedCheckedDesc, heldDesc, canaryDesc,
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stateReadErrorsDesc
	ch <- certificatesDesc
	ch <- canaryFailingDesc
	for _, d := range certDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	rows, err := c.status()
	if err != nil {
		c.readErrors.Add(1)
	}
	ch <- prometheus.MustNewConstMetric(stateReadErrorsDesc, prometheus.CounterValue, float64(c.readErrors.Load()))
	if err != nil {
		return
	}
	failing := 0.0
	for i := range rows {
		s := &rows[i]
		collectRow(ch, s)
		if s.Canary && s.RetryCount > 0 {
			failing = 1
		}
	}
	ch <- prometheus.MustNewConstMetric(certificatesDesc, prometheus.GaugeValue, float64(len(rows)))
	ch <- prometheus.MustNewConstMetric(canaryFailingDesc, prometheus.GaugeValue, failing)
}

func collectRow(ch chan<- prometheus.Metric, s *renew.Status) {
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, s.Name)
	}
	timestamp := func(d *prometheus.Desc, t *time.Time) {
		if t != nil && !t.IsZero() {
			gauge(d, seconds(*t))
		}
	}
	timestamp(notAfterDesc, s.NotAfter)
	timestamp(nextRenewalDesc, s.NextRenewal)
	gauge(retryCountDesc, float64(s.RetryCount))
	timestamp(nextRetryDesc, s.NextRetryTime)
	timestamp(lastSuccessDesc, s.RenewTime)
	timestamp(lastFailureDesc, s.LastFailure)
	switch s.ServedChain {
	case "complete":
		gauge(servedCompleteDesc, 1)
	case "incomplete":
		gauge(servedCompleteDesc, 0)
	}
	if s.ServedChain != "" {
		timestamp(servedCheckedDesc, s.ServedCheckedAt)
	}
	gauge(heldDesc, boolValue(s.HeldBy != ""))
	gauge(canaryDesc, boolValue(s.Canary))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
