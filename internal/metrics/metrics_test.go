package metrics

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/renewd/renewd/internal/golden"
	"github.com/renewd/renewd/internal/renew"
)

// t0 is "now" in these tests.
var t0 = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

// testRows are three certificates: a canary failing for the second time
// (its served chain complete), a certificate it held back whose served
// chain was incomplete, and one never issued.
func testRows() []renew.Status {
	return []renew.Status{
		{
			Name: "canary", Domains: []string{"canary.example.com"}, Canary: true,
			NotAfter: at(40 * 24 * time.Hour), RenewTime: at(-50 * 24 * time.Hour),
			RetryCount: 2, NextRetryTime: at(10 * time.Minute), LastFailure: at(-5 * time.Minute),
			NextRenewal: at(10 * time.Minute), NextReason: "waiting for retry 3",
			ServedChain: "complete", ServedCheckedAt: at(-50 * 24 * time.Hour),
		},
		{
			Name: "shop", Domains: []string{"shop.example.com", "www.shop.example.com"},
			NotAfter: at(20 * 24 * time.Hour), RenewTime: at(-70 * 24 * time.Hour), LastFailure: at(-80 * 24 * time.Hour),
			NextRenewal: at(-10 * 24 * time.Hour), NextReason: "1/3 of lifetime left", Due: true,
			ServedChain: "incomplete", ServedCheckedAt: at(-70 * 24 * time.Hour),
			HeldBy: "canary", HeldReason: "canary canary failed: order: 503; next retry at 12:10",
		},
		{
			Name: "new", Domains: []string{"new.example.com"}, NextReason: "no certificate yet", Due: true,
		},
	}
}

func testMetrics(t testing.TB, status func() ([]renew.Status, error)) *Metrics {
	t.Helper()
	m := New("v1.2.3", status)
	m.now = func() time.Time { return t0 }
	return m
}

// scrape returns the renewd_ lines of a scrape of h, with the Go version
// replaced by GOVERSION.
func scrape(t testing.TB, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: HTTP %d: %s", rec.Code, rec.Body)
	}
	var b strings.Builder
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "renewd_") || strings.HasPrefix(line, "# HELP renewd_") || strings.HasPrefix(line, "# TYPE renewd_") {
			b.WriteString(line)
		}
	}
	return strings.ReplaceAll(b.String(), runtime.Version(), "GOVERSION")
}

func TestScrapeGolden(t *testing.T) {
	m := testMetrics(t, func() ([]renew.Status, error) { return testRows(), nil })
	m.ObserveResults([]renew.Result{
		{Name: "canary", Outcome: renew.Failed, Err: errors.New("order: 503")},
		{Name: "shop", Outcome: renew.Held},
		{Name: "new", Outcome: renew.Held},
	})
	m.ObserveResults([]renew.Result{
		{Name: "canary", Outcome: renew.Renewed},
		{Name: "shop", Outcome: renew.Interrupted},
		{Name: "new", Outcome: renew.NotDue},
	})
	m.ObserveRun(90*time.Second, nil)
	m.now = func() time.Time { return t0.Add(time.Hour) }
	m.ObserveRun(5*time.Millisecond, errors.New("load state: permission denied"))
	m.ObserveACMERequest("GET", "directory", 200, 30*time.Millisecond)
	m.ObserveACMERequest("POST", "order", 201, 200*time.Millisecond)
	m.ObserveACMERequest("POST", "order", 201, 400*time.Millisecond)
	m.ObserveACMERequest("POST", "finalize", 0, 3*time.Second)

	got := scrape(t, m.Handler())
	golden.Compare(t, "scrape", got)
}

func TestCertificateSeries(t *testing.T) {
	m := testMetrics(t, func() ([]renew.Status, error) { return testRows(), nil })
	want := `
# HELP renewd_certificate_not_after_timestamp_seconds When the live certificate expires. Absent before the first issuance.
# TYPE renewd_certificate_not_after_timestamp_seconds gauge
renewd_certificate_not_after_timestamp_seconds{certificate="canary"} 1.7987328e+09
renewd_certificate_not_after_timestamp_seconds{certificate="shop"} 1.7970048e+09
# HELP renewd_certificate_retries Failed attempts since the last success (retry_count in its record); 0 after a success.
# TYPE renewd_certificate_retries gauge
renewd_certificate_retries{certificate="canary"} 2
renewd_certificate_retries{certificate="new"} 0
renewd_certificate_retries{certificate="shop"} 0
# HELP renewd_certificate_next_retry_timestamp_seconds The earliest time the certificate is tried again after a failure. Absent when it is not failing.
# TYPE renewd_certificate_next_retry_timestamp_seconds gauge
renewd_certificate_next_retry_timestamp_seconds{certificate="canary"} 1.7952774e+09
# HELP renewd_certificate_served_chain_complete 1 when the chain nginx served after the last deploy verified complete, 0 when it did not. Absent when never checked.
# TYPE renewd_certificate_served_chain_complete gauge
renewd_certificate_served_chain_complete{certificate="canary"} 1
renewd_certificate_served_chain_complete{certificate="shop"} 0
# HELP renewd_certificate_held_by_canary 1 when the last pass did not attempt the certificate because a canary failed.
# TYPE renewd_certificate_held_by_canary gauge
renewd_certificate_held_by_canary{certificate="canary"} 0
renewd_certificate_held_by_canary{certificate="new"} 0
renewd_certificate_held_by_canary{certificate="shop"} 1
# HELP renewd_canary_failing 1 when any canary certificate's last attempt failed (retry_count > 0), else 0. While it fails, other due certificates that need an order are held, except those in their emergency window or expiring before its next retry (renewd_certificate_held_by_canary says which).
# TYPE renewd_canary_failing gauge
renewd_canary_failing 1
# HELP renewd_certificates Certificates in the configuration.
# TYPE renewd_certificates gauge
renewd_certificates 3
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want),
		"renewd_certificate_not_after_timestamp_seconds", "renewd_certificate_retries",
		"renewd_certificate_next_retry_timestamp_seconds", "renewd_certificate_served_chain_complete",
		"renewd_certificate_held_by_canary", "renewd_canary_failing", "renewd_certificates"); err != nil {
		t.Error(err)
	}
}

func TestCanaryNotFailing(t *testing.T) {
	rows := testRows()
	rows[0].RetryCount, rows[0].NextRetryTime = 0, nil
	rows[1].RetryCount = 4 // not a canary: no matter
	m := testMetrics(t, func() ([]renew.Status, error) { return rows, nil })
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(`
# HELP renewd_canary_failing 1 when any canary certificate's last attempt failed (retry_count > 0), else 0. While it fails, other due certificates that need an order are held, except those in their emergency window or expiring before its next retry (renewd_certificate_held_by_canary says which).
# TYPE renewd_canary_failing gauge
renewd_canary_failing 0
`), "renewd_canary_failing"); err != nil {
		t.Error(err)
	}
}

// The series follow the status rows at every scrape: a certificate renewed (by
// another process, or before a restart) shows its new dates at once.
func TestStatusReadAtEveryScrape(t *testing.T) {
	rows := testRows()
	m := testMetrics(t, func() ([]renew.Status, error) { return rows, nil })
	before := scrape(t, m.Handler())
	rows[1].NotAfter = at(90 * 24 * time.Hour)
	after := scrape(t, m.Handler())
	if !strings.Contains(before, `renewd_certificate_not_after_timestamp_seconds{certificate="shop"} 1.7970048e+09`) ||
		!strings.Contains(after, `renewd_certificate_not_after_timestamp_seconds{certificate="shop"} 1.8030528e+09`) {
		t.Errorf("not_after did not follow the status rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestStatusError(t *testing.T) {
	var fail bool
	m := testMetrics(t, func() ([]renew.Status, error) {
		if fail {
			return nil, errors.New("open state.json: permission denied")
		}
		return testRows(), nil
	})
	h := m.Handler()
	if got := scrape(t, h); !strings.Contains(got, "renewd_state_read_errors_total 0\n") || !strings.Contains(got, "renewd_certificate_") {
		t.Errorf("a good scrape:\n%s", got)
	}
	fail = true
	scrape(t, h)
	got := scrape(t, h)
	if !strings.Contains(got, "renewd_state_read_errors_total 2\n") {
		t.Errorf("two failed scrapes do not count 2 errors:\n%s", got)
	}
	for _, name := range []string{"renewd_certificate_", "renewd_certificates ", "renewd_canary_failing "} {
		if strings.Contains(got, "\n"+name) {
			t.Errorf("a failed scrape has %s series:\n%s", name, got)
		}
	}
	if !strings.Contains(got, "renewd_build_info{") {
		t.Errorf("a failed state read lost the other metrics:\n%s", got)
	}
}

func TestObserveResults(t *testing.T) {
	m := testMetrics(t, func() ([]renew.Status, error) { return nil, nil })
	m.ObserveResults([]renew.Result{{Name: "a", Outcome: renew.NotDue}, {Name: "b", Outcome: renew.Failed}})
	m.ObserveResults([]renew.Result{{Name: "a", Outcome: renew.Renewed}, {Name: "b", Outcome: renew.Failed}, {Name: "c", Outcome: renew.Held}})
	want := `
# HELP renewd_renewal_attempts_total Renewal attempts by certificate and result: renewed, failed, held (not attempted because a canary failed) or interrupted (by shutdown).
# TYPE renewd_renewal_attempts_total counter
renewd_renewal_attempts_total{certificate="a",result="failed"} 0
renewd_renewal_attempts_total{certificate="a",result="held"} 0
renewd_renewal_attempts_total{certificate="a",result="interrupted"} 0
renewd_renewal_attempts_total{certificate="a",result="renewed"} 1
renewd_renewal_attempts_total{certificate="b",result="failed"} 2
renewd_renewal_attempts_total{certificate="b",result="held"} 0
renewd_renewal_attempts_total{certificate="b",result="interrupted"} 0
renewd_renewal_attempts_total{certificate="b",result="renewed"} 0
renewd_renewal_attempts_total{certificate="c",result="failed"} 0
renewd_renewal_attempts_total{certificate="c",result="held"} 1
renewd_renewal_attempts_total{certificate="c",result="interrupted"} 0
renewd_renewal_attempts_total{certificate="c",result="renewed"} 0
# HELP renewd_canary_holds_total Passes in which a failed canary held the other due certificates back.
# TYPE renewd_canary_holds_total counter
renewd_canary_holds_total 1
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "renewd_renewal_attempts_total", "renewd_canary_holds_total"); err != nil {
		t.Error(err)
	}
}

func TestObserveRun(t *testing.T) {
	m := testMetrics(t, func() ([]renew.Status, error) { return nil, nil })
	before := scrape(t, m.Handler())
	if !strings.Contains(before, `renewd_runs_total{result="ok"} 0`) || !strings.Contains(before, `renewd_runs_total{result="failed"} 0`) {
		t.Errorf("renewd_runs_total is not 0 for both results before the first pass:\n%s", before)
	}
	if strings.Contains(before, "renewd_last_run_timestamp_seconds ") || strings.Contains(before, "renewd_last_successful_run_timestamp_seconds ") {
		t.Errorf("last-run timestamps before the first pass:\n%s", before)
	}
	m.ObserveRun(2*time.Second, errors.New("load state: permission denied"))
	got := scrape(t, m.Handler())
	if !strings.Contains(got, "renewd_last_run_timestamp_seconds 1.7952768e+09\n") || strings.Contains(got, "renewd_last_successful_run_timestamp_seconds ") {
		t.Errorf("after a failed pass:\n%s", got)
	}
	m.now = func() time.Time { return t0.Add(time.Hour) }
	m.ObserveRun(3*time.Second, nil)
	want := `
# HELP renewd_runs_total Renewal passes by result: ok (the pass ran; see renewd_renewal_attempts_total for each certificate) or failed (it could not run).
# TYPE renewd_runs_total counter
renewd_runs_total{result="failed"} 1
renewd_runs_total{result="ok"} 1
# HELP renewd_last_run_timestamp_seconds When the last renewal pass ended, successful or not.
# TYPE renewd_last_run_timestamp_seconds gauge
renewd_last_run_timestamp_seconds 1.7952804e+09
# HELP renewd_last_successful_run_timestamp_seconds When the last renewal pass that ran (renewd_runs_total{result="ok"}) ended.
# TYPE renewd_last_successful_run_timestamp_seconds gauge
renewd_last_successful_run_timestamp_seconds 1.7952804e+09
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "renewd_runs_total", "renewd_last_run_timestamp_seconds", "renewd_last_successful_run_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.runDuration); n != 1 {
		t.Errorf("run duration histogram has %d series, want 1", n)
	}
}

func TestObserveACMERequest(t *testing.T) {
	m := testMetrics(t, func() ([]renew.Status, error) { return nil, nil })
	m.ObserveACMERequest("POST", "order", 201, 200*time.Millisecond)
	m.ObserveACMERequest("POST", "order", 201, 400*time.Millisecond)
	m.ObserveACMERequest("HEAD", "nonce", 0, 15*time.Second)
	got := scrape(t, m.Handler())
	for _, line := range []string{
		`renewd_acme_request_duration_seconds_bucket{code="201",endpoint="order",method="POST",le="0.25"} 1`,
		`renewd_acme_request_duration_seconds_bucket{code="201",endpoint="order",method="POST",le="0.5"} 2`,
		`renewd_acme_request_duration_seconds_sum{code="201",endpoint="order",method="POST"} 0.6000000000000001`,
		`renewd_acme_request_duration_seconds_count{code="201",endpoint="order",method="POST"} 2`,
		`renewd_acme_request_duration_seconds_bucket{code="0",endpoint="nonce",method="HEAD",le="10"} 0`,
		`renewd_acme_request_duration_seconds_bucket{code="0",endpoint="nonce",method="HEAD",le="30"} 1`,
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("scrape lacks %s:\n%s", line, got)
		}
	}
}

func TestBuildInfoAndRuntime(t *testing.T) {
	m := testMetrics(t, func() ([]renew.Status, error) { return nil, nil })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		fmt.Sprintf(`renewd_build_info{goversion="%s",version="v1.2.3"} 1`, runtime.Version()),
		"go_goroutines ",
		"go_memstats_heap_alloc_bytes ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if runtime.GOOS == "linux" && !strings.Contains(string(body), "process_start_time_seconds ") {
		t.Error("scrape lacks the process collector's process_start_time_seconds")
	}
}

// TestLint checks the names, units and help texts against Prometheus'
// conventions, as promtool check metrics does.
func TestLint(t *testing.T) {
	m := testMetrics(t, func() ([]renew.Status, error) { return testRows(), nil })
	m.ObserveResults([]renew.Result{{Name: "canary", Outcome: renew.Failed}})
	m.ObserveRun(time.Second, nil)
	m.ObserveACMERequest("GET", "directory", 200, time.Millisecond)
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "renewd_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func BenchmarkScrape10000(b *testing.B) {
	rows := make([]renew.Status, 10000)
	for i := range rows {
		rows[i] = renew.Status{
			Name: fmt.Sprintf("cert-%05d", i), Domains: []string{fmt.Sprintf("c%d.example.com", i)}, Canary: i == 0,
			NotAfter: at(time.Duration(i) * time.Minute), RenewTime: at(-time.Hour), NextRenewal: at(time.Hour),
			RetryCount: i % 3, LastFailure: at(-2 * time.Hour), ServedChain: "complete", ServedCheckedAt: at(-time.Hour),
		}
		if i%3 != 0 {
			rows[i].NextRetryTime = at(time.Minute)
		}
	}
	m := testMetrics(b, func() ([]renew.Status, error) { return rows, nil })
	results := make([]renew.Result, len(rows))
	for i, r := range rows {
		results[i] = renew.Result{Name: r.Name, Outcome: renew.Renewed}
	}
	m.ObserveResults(results)
	h := m.Handler()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d", rec.Code)
		}
	}
}

// TestWithNode: a cluster node's series carry node="<name>", every one.
func TestWithNode(t *testing.T) {
	m := New("v1.2.3", func() ([]renew.Status, error) {
		return []renew.Status{{Name: "shop", NotAfter: &t0}}, nil
	}, WithNode("web1"))
	out := scrape(t, m.Handler())
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "#") && !strings.Contains(line, `node="web1"`) {
			t.Errorf("series without the node label: %s", line)
		}
	}
	if !strings.Contains(out, `renewd_certificate_not_after_timestamp_seconds{certificate="shop",node="web1"}`) {
		t.Errorf("no labelled certificate series:\n%s", out)
	}
}

// TestObserveEtcd: a cluster node's etcd gauge flips with an outage and
// says when it began; a renewd without a cluster has no such series.
func TestObserveEtcd(t *testing.T) {
	m := New("v1.2.3", func() ([]renew.Status, error) { return nil, nil }, WithNode("web1"))
	if out := scrape(t, m.Handler()); strings.Contains(out, "renewd_cluster_") {
		t.Errorf("etcd series before any observation:\n%s", out)
	}
	m.ObserveEtcd(true, time.Time{})
	want := `
# HELP renewd_cluster_etcd_reachable 1 while this cluster node reaches etcd, 0 while it cannot (it orders and deploys nothing then, and serves what it has).
# TYPE renewd_cluster_etcd_reachable gauge
renewd_cluster_etcd_reachable{node="web1"} 1
`
	names := []string{"renewd_cluster_etcd_reachable", "renewd_cluster_etcd_unreachable_since_timestamp_seconds"}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	m.ObserveEtcd(false, t0)
	want = `
# HELP renewd_cluster_etcd_reachable 1 while this cluster node reaches etcd, 0 while it cannot (it orders and deploys nothing then, and serves what it has).
# TYPE renewd_cluster_etcd_reachable gauge
renewd_cluster_etcd_reachable{node="web1"} 0
# HELP renewd_cluster_etcd_unreachable_since_timestamp_seconds When this cluster node lost etcd. Absent while it reaches etcd.
# TYPE renewd_cluster_etcd_unreachable_since_timestamp_seconds gauge
renewd_cluster_etcd_unreachable_since_timestamp_seconds{node="web1"} 1.7952768e+09
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	m.ObserveEtcd(true, t0)
	if out := scrape(t, m.Handler()); !strings.Contains(out, `renewd_cluster_etcd_reachable{node="web1"} 1`) || strings.Contains(out, "unreachable_since") {
		t.Errorf("after etcd came back:\n%s", out)
	}
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "renewd_cluster_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
