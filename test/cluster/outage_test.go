package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/renewd/renewd/test/harness"
)

// TestEtcdQuorumLost: two of the three etcd members stop. Nothing can be
// ordered: `renew --now` on a node fails within its bound and says why,
// and the CA sees no order; every daemon says etcd is unreachable and keeps
// running, and every nginx keeps serving what it has. When the members come
// back the nodes register again, one leads, and a renewal goes through to
// every node.
func TestEtcdQuorumLost(t *testing.T) {
	c := newCluster(t, "quorum")
	old := c.bootstrap()["site"]
	down := env.etcd.Members[1:]
	env.etcd.Stop(down...)
	t.Cleanup(func() { // the next scenarios need the whole etcd
		for _, m := range down {
			if m.Proc.Exited() {
				if err := env.etcd.Start(m); err != nil {
					t.Errorf("restart etcd member %s: %v", m.Name, err)
				}
			}
		}
	})

	// Well within its --wait: a failure that only comes when the asker
	// gives up says nothing.
	res := c.nodes[1].cli("renew", "--now", "--wait", "2m")
	t.Logf("renew --now without quorum: %s", res)
	if res.Code != 1 || res.Took > 20*time.Second || !strings.Contains(res.Stderr, "etcd has no quorum") {
		t.Errorf("renew --now without an etcd quorum: want exit 1 within seconds, saying etcd has no quorum: %s", res)
	}
	for _, n := range c.nodes {
		n.waitLog("etcd unreachable: no orders and no deploys until it answers; nginx keeps serving what this node has", 60*time.Second)
	}
	for _, n := range c.nodes {
		if !n.running() {
			t.Fatalf("%s exited without etcd: %v", n.name, n.d.Err())
		}
		n.mustServe("site", old)
	}
	if got := c.ca.orders(); got != 1 {
		t.Errorf("%d orders while etcd had no quorum; want none after the first issuance", got)
	}

	if err := env.etcd.Start(down...); err != nil {
		t.Fatal(err)
	}
	c.waitAlive(60*time.Second, "n1", "n2", "n3")
	// etcd renews every lease for its TTL and its election timeout when it
	// elects a new leader of its own (it may take two elections to settle
	// after members come back), so a session the nodes gave up on may hold
	// the leadership that long after etcd's last election (its key is
	// still first: the fence holds); wait until it is settled.
	leader := c.waitStableLeader(90*time.Second, leaseTTL+etcdElection+2*time.Second)
	for _, n := range c.nodes {
		n.waitLog("etcd reachable again; catching up", 60*time.Second)
	}
	// Validation through a node that does not lead.
	other := c.nodes[slices.IndexFunc(c.nodes, func(n *node) bool { return n.name != leader })]
	c.pointAt(other)
	res = other.cli("renew", "--now")
	if res.Code != 0 || !strings.Contains(res.Stdout, "run by the leader, "+leader) {
		t.Fatalf("renew --now after etcd came back: %s", res)
	}
	fresh := c.waitServing(converge, c.nodes...)["site"]
	if fresh == old {
		t.Error("the renewal after etcd came back did not change the serial")
	}
	if got := c.ca.orders(); got != 2 {
		t.Errorf("%d orders; want 2: the first issuance and the one after etcd came back", got)
	}
	if v := c.versions("site"); len(v) != 2 {
		t.Errorf("versions %v; want 2", v)
	}
}

// TestPartitionedNodeCatchesUp: n2 loses its connection to etcd (a TCP
// proxy between n2 and each member is cut) while its renewd runs on. It
// drops out of the live nodes within a lease and keeps serving what it
// has; the leader renews without waiting for it; when the link is back, n2
// registers again, reads what it missed and serves the new version.
//
// n2's clock of decisions runs 80 days ahead (RENEWD_TEST_CLOCK_OFFSET), so
// to it the 90-day certificate it serves has 10 days left: cut off, it
// says so through its webhook once, with "etcd unreachable since" as the
// cause, and its renewd_cluster_etcd_reachable goes 0, then 1 again.
func TestPartitionedNodeCatchesUp(t *testing.T) {
	c := newCluster(t, "partition")
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	hook := startWebhook(t)
	metrics, scrape := n2.metricsSetting()
	n2.extra = metrics + hook.notifySetting()
	n2.bin, n2.env = env.renewdCrash, []string{"RENEWD_TEST_CLOCK_OFFSET=1920h"}
	var links []*harness.Link
	n2.endpoints = nil
	for _, m := range env.etcd.Members {
		l := harness.StartLink(t, strings.TrimPrefix(m.Client, "http://"))
		links = append(links, l)
		n2.endpoints = append(n2.endpoints, "http://"+l.Addr)
	}
	n2.writeConfig()
	old := c.bootstrap()["site"]
	c.pointAt(n3)
	reachable := `renewd_cluster_etcd_reachable{node="n2"} `
	waitMetric(t, scrape, reachable, 30*time.Second, func(l string) bool { return strings.HasSuffix(l, " 1") })
	if got := hook.received(); len(got) != 0 {
		t.Errorf("n2 notified %+v while it reached etcd", got)
	}

	for _, l := range links {
		l.Cut(true)
	}
	cut := time.Now()
	c.waitAlive(leaseTTL+10*time.Second, "n1", "n3")
	t.Logf("n2 dropped out %s after the cut", time.Since(cut).Round(100*time.Millisecond))
	waitMetric(t, scrape, reachable, 30*time.Second, func(l string) bool { return strings.HasSuffix(l, " 0") })
	waitMetric(t, scrape, `renewd_cluster_etcd_unreachable_since_timestamp_seconds{node="n2"} `, 5*time.Second,
		func(string) bool { return true })
	err := harness.WaitFor("n2's expiring warning", 30*time.Second, func() error {
		if len(hook.received()) == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("n2 warned %s after the cut", time.Since(cut).Round(100*time.Millisecond))
	res := n3.cli("renew", "--now")
	if res.Code != 0 || !strings.Contains(res.Stdout, "run by the leader, n1:") {
		t.Fatalf("renew --now while n2 is cut off: %s", res)
	}
	fresh := c.waitServing(converge, n1, n3)["site"]
	if !n2.running() {
		t.Fatalf("n2 exited while cut off: %v", n2.d.Err())
	}
	n2.mustServe("site", old)
	// The history n2 missed is compacted away before it comes back: its
	// watch cannot resume where it was, and it must read everything again.
	compact(t, c)

	// n2 kept probing while cut off (every 10s): still one warning.
	warned := hook.received()
	if len(warned) != 1 || warned[0].Kind != "expiring" || warned[0].Certificate != "site" || warned[0].Host != "n2" ||
		!strings.Contains(warned[0].Cause, "etcd unreachable since ") || !strings.Contains(warned[0].Cause, "it keeps serving version ") {
		t.Errorf("n2 notified %+v; want one expiring warning for site, its cause etcd unreachable", warned)
	}

	for _, l := range links {
		l.Cut(false)
	}
	back := time.Now()
	c.waitServing(converge, c.nodes...)
	t.Logf("n2 served the new version %s after the link came back", time.Since(back).Round(100*time.Millisecond))
	n2.mustServe("site", fresh)
	for _, l := range strings.Split(n2.log(), "\n") {
		if strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) || strings.Contains(l, "again") {
			t.Logf("n2: %s", l)
		}
	}
	c.waitAlive(30*time.Second, "n1", "n2", "n3")
	waitMetric(t, scrape, reachable, 30*time.Second, func(l string) bool { return strings.HasSuffix(l, " 1") })
	n2.waitLog("etcd answers again", 10*time.Second)
	if got := c.ca.orders(); got != 2 {
		t.Errorf("%d orders; want 2", got)
	}
	o := n2.clusterStatus()
	for _, co := range o.Certificates {
		if v := co.Served["n2"]; v.Version != co.Version || v.Verdict != "complete" {
			t.Errorf("cluster status: n2 serves %+v of %s, want %s complete", v, co.Name, co.Version)
		}
	}
}

// TestCompactionWhileNodeDown: n2 stops; two renewals go through; etcd is
// compacted at its current revision, so the history n2 missed is gone; n2
// starts again, reads everything afresh and serves the latest version.
func TestCompactionWhileNodeDown(t *testing.T) {
	c := newCluster(t, "compaction")
	n2, n3 := c.nodes[1], c.nodes[2]
	c.bootstrap()
	c.pointAt(n3)
	n2.stop()
	c.waitAlive(30*time.Second, "n1", "n3")
	for i := range 2 {
		if res := n3.cli("renew", "--now"); res.Code != 0 {
			t.Fatalf("renew --now #%d while n2 is down: %s", i+1, res)
		}
	}
	latest := c.live("site")
	serial := c.versionSerial("site", latest)
	compact(t, c)
	n2.start()
	got := c.waitServing(converge, c.nodes...)["site"]
	if got != serial {
		t.Errorf("n2 caught up to %s, want the latest %s", got, serial)
	}
	if live, err := n2.liveVersion("site"); err != nil || live != latest {
		t.Errorf("n2's own live/site is %s (%v), want %s", live, err, latest)
	}
	if got := c.ca.orders(); got != 3 {
		t.Errorf("%d orders; want 3", got)
	}
}

// compact compacts etcd's history at its current revision, as etcd's
// --auto-compaction or an operator's `etcdctl compact` does.
func compact(t *testing.T, c *testCluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.cli.Compact(ctx, c.revision(), clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}
