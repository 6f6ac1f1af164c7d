package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scrape fetches the daemon's /metrics and returns every sample by its
// full name with labels, as Prometheus' text format writes it.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: HTTP %d\n%s", resp.StatusCode, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// wantSample checks one sample; want < 0 only asks that it exists.
func wantSample(t *testing.T, m map[string]float64, name string, want float64) {
	t.Helper()
	got, ok := m[name]
	switch {
	case !ok:
		t.Errorf("no sample %s", name)
	case want >= 0 && got != want:
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// TestMetrics scrapes the daemon after a pass that renewed, and after one
// in which the canary failed and held the main certificate.
func TestMetrics(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w.appendGlobal(fmt.Sprintf("metrics: {listen: %q}\n", addr))
	w.addCert("canary", "canary: true\n"+listenCert(pb.HTTPPort, "canary.metrics.example.com"))
	w.addCert("shop", listenCert(pb.HTTPPort, "shop.metrics.example.com"))

	d := w.startDaemon()
	d.waitOutput("renewal pass done")
	m := scrape(t, addr)
	for _, c := range []string{"canary", "shop"} {
		wantSample(t, m, fmt.Sprintf(`renewd_renewal_attempts_total{certificate=%q,result="renewed"}`, c), 1)
		wantSample(t, m, fmt.Sprintf(`renewd_certificate_retries{certificate=%q}`, c), 0)
		wantSample(t, m, fmt.Sprintf(`renewd_certificate_not_after_timestamp_seconds{certificate=%q}`, c), -1)
		wantSample(t, m, fmt.Sprintf(`renewd_certificate_last_success_timestamp_seconds{certificate=%q}`, c), -1)
	}
	if na := m[`renewd_certificate_not_after_timestamp_seconds{certificate="shop"}`]; na < float64(time.Now().Add(80*24*time.Hour).Unix()) {
		t.Errorf("shop not_after %v is not about 90 days away", na)
	}
	wantSample(t, m, `renewd_certificate_canary{certificate="canary"}`, 1)
	wantSample(t, m, `renewd_certificates`, 2)
	wantSample(t, m, `renewd_canary_failing`, 0)
	wantSample(t, m, `renewd_runs_total{result="ok"}`, 1)
	wantSample(t, m, `renewd_run_duration_seconds_count`, 1)
	if n := m[`renewd_acme_request_duration_seconds_count{code="201",endpoint="order",method="POST"}`]; n < 2 {
		t.Errorf("ACME new-order requests observed: %v, want 2 (one per certificate)", n)
	}
	if !hasPrefix(m, `renewd_build_info{`) {
		t.Error("no renewd_build_info")
	}

	// The canary breaks (its webroot is gone) and its domains change, so
	// it is due itself and fails before ordering; shop's domains change, so
	// shop is due and held.
	w.addCert("canary", "canary: true\ndomains: [canary2.metrics.example.com]\nchallenge:\n  type: http-01\n  http01: {webroot: "+
		filepath.Join(w.dir, "no-such-webroot")+"}\n")
	w.addCert("shop", listenCert(pb.HTTPPort, "shop.metrics.example.com", "www.shop.metrics.example.com"))
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	w.waitState("shop", "shop held by the canary", func(r map[string]any) bool { return r["held_by"] != nil })
	if err := waitFor("the held pass in the metrics", 30*time.Second, func() error {
		if m = scrape(t, addr); m[`renewd_runs_total{result="ok"}`] < 2 {
			return fmt.Errorf("runs %v", m[`renewd_runs_total{result="ok"}`])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantSample(t, m, `renewd_renewal_attempts_total{certificate="canary",result="failed"}`, 1)
	wantSample(t, m, `renewd_renewal_attempts_total{certificate="shop",result="held"}`, 1)
	wantSample(t, m, `renewd_certificate_held_by_canary{certificate="shop"}`, 1)
	wantSample(t, m, `renewd_certificate_retries{certificate="canary"}`, 1)
	wantSample(t, m, `renewd_certificate_next_retry_timestamp_seconds{certificate="canary"}`, -1)
	wantSample(t, m, `renewd_certificate_last_failure_timestamp_seconds{certificate="canary"}`, -1)
	wantSample(t, m, `renewd_canary_failing`, 1)
	wantSample(t, m, `renewd_canary_holds_total`, 1)

	if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}

	// A metrics port in use: the daemon refuses to start, and says why.
	l := listenOn(t, addr)
	defer l.Close()
	if res := w.renewd("run"); res.code != 1 || !strings.Contains(res.stderr, "metrics.listen") {
		t.Errorf("metrics port in use: want exit 1 naming metrics.listen, got %s", res)
	}
}

func hasPrefix(m map[string]float64, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
