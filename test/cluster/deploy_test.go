package cluster

import (
	"strings"
	"testing"
	"time"
)

// TestNginxTestFailsOnOneNode: n2's nginx.conf includes a file that is
// gone, so `nginx -t` fails there. A renewal is served by n1 and n3; n2
// rolls back, keeps serving the old certificate and reports a failed
// verdict, which `cluster status` shows; the leader's record says the
// deploy failed on n2. Once the include is fixed, a plain `renew` deploys
// the stored version again and n2 serves it, without a new order.
func TestNginxTestFailsOnOneNode(t *testing.T) {
	c := newCluster(t, "nginx-t")
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	old := c.bootstrap()["site"]
	oldVersion := c.live("site")
	c.pointAt(n3)
	n2.ng.breakInclude()

	res := n3.cli("renew", "--now")
	if res.Code != 1 || !strings.Contains(res.Stdout, "node n2") {
		t.Fatalf("renew --now with nginx -t failing on n2: want exit 1 naming n2: %s", res)
	}
	fresh := c.waitServing(converge, n1, n3)["site"]
	freshVersion := c.live("site")
	n2.mustServe("site", old)
	v := c.verdicts("site")["n2"]
	if v.Version != freshVersion || v.Verdict != "failed" || !strings.Contains(v.Error, "nginx") {
		t.Errorf("n2's verdict %+v; want %s failed, saying nginx -t failed", v, freshVersion)
	}
	t.Logf("n2's verdict: %s", v.Error)
	if data := readFile(t, n2.deployed("site", "fullchain.pem")); !strings.Contains(data, "BEGIN CERTIFICATE") || servedFileSerial(t, data) != old {
		t.Errorf("n2's deployed fullchain was not rolled back to %s", old)
	}
	o := n1.clusterStatus()
	if got := o.Certificates[0].Served["n2"]; got.Verdict != "failed" || got.Version != freshVersion {
		t.Errorf("cluster status: n2 %+v, want failed %s", got, freshVersion)
	}
	if text := n1.cli("cluster", "status"); !strings.Contains(text.Stdout, "FAILED "+freshVersion) {
		t.Errorf("cluster status (text) does not show n2 FAILED:\n%s", text.Stdout)
	}
	rec := c.record("site")
	if rec["version"] != freshVersion || rec["deployed_version"] == freshVersion || !strings.Contains(str(rec["last_error"]), "node n2") {
		t.Errorf("the leader's record: version %v, deployed_version %v, last_error %q; want the deploy failed on n2",
			rec["version"], rec["deployed_version"], rec["last_error"])
	}
	if st := n3.cli("status"); !strings.Contains(st.Stdout, "node n2") {
		t.Errorf("status on n3 does not show the failure on n2:\n%s", st)
	}

	// Fixed: the next pass deploys what is stored, after the retry delay.
	n2.ng.fixInclude()
	if next, err := time.Parse(time.RFC3339, str(rec["next_retry_time"])); err == nil {
		time.Sleep(time.Until(next) + 500*time.Millisecond)
	}
	res = n3.cli("renew")
	if res.Code != 0 || !strings.Contains(res.Stdout, "no new order") {
		t.Fatalf("renew after fixing n2's nginx: %s", res)
	}
	c.waitServing(converge, c.nodes...)
	n2.mustServe("site", fresh)
	if got := c.ca.orders(); got != 2 {
		t.Errorf("%d orders; want 2: the deploy retry orders nothing", got)
	}
	rec = c.record("site")
	if rec["deployed_version"] != freshVersion || rec["served_chain"] != "complete" || rec["last_error"] != nil {
		t.Errorf("record after the retry: deployed_version %v, served_chain %v, last_error %v", rec["deployed_version"], rec["served_chain"], rec["last_error"])
	}
	if v := c.versions("site"); len(v) != 2 || v[0] != oldVersion {
		t.Errorf("versions %v", v)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
