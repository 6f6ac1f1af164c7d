package cluster

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestNormalRenewal: `renewd renew --now` asked on n3 runs on the leader
// n1; the CA reaches the domains at n3, which answers through the tokens
// the leader shared in etcd; the canary is served on every node before the
// other certificate is ordered; every node ends up serving the same new
// serial with a complete chain; `cluster status` shows it on every node and
// `status` on any node shows the cluster's records. One order per
// certificate.
func TestNormalRenewal(t *testing.T) {
	c := newCluster(t, "normal", certSpec{name: "canary", canary: true}, certSpec{name: "shop"})
	before := c.bootstrap()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	c.pointAt(n3) // not the leader: validation works only through the shared tokens
	rev := c.revision()

	res := n3.cli("renew", "--now")
	if res.Code != 0 || !strings.Contains(res.Stdout, "run by the leader, n1:") || !strings.Contains(res.Stdout, "2 renewed, 0 failed") {
		t.Fatalf("renew --now on n3: %s", res)
	}
	// The leader logs the request it ran for n3, and how it ended.
	n1.waitLog("renewal asked by a node done", 10*time.Second)
	for _, line := range strings.Split(n1.log(), "\n") {
		if strings.Contains(line, "renewal asked by a node done") &&
			(!strings.Contains(line, `"from":"n3@`) || !strings.Contains(line, `"summary":"2 renewed, 0 failed`) || !strings.Contains(line, `"failed":false`)) {
			t.Errorf("the leader's log of the request: %s; want from n3, 2 renewed, not failed", line)
		}
	}
	after := c.waitServing(converge, c.nodes...)
	for name, serial := range after {
		if serial == before[name] {
			t.Errorf("%s: still serial %s after renew --now", name, serial)
		}
	}
	if got, want := c.ca.orders(), 2*len(c.certs); got != want {
		t.Errorf("%d orders at the CA, want %d: one per certificate and renewal", got, want)
	}
	for _, cs := range c.certs {
		if v := c.versions(cs.name); len(v) != 2 {
			t.Errorf("%s: versions %v in etcd, want 2", cs.name, v)
		}
	}
	checkCanaryGated(t, c, rev)

	// cluster status, as an operator on any node runs it.
	for _, n := range []*node{n1, n2} {
		o := n.clusterStatus()
		if o.Leader != "n1" || len(o.Nodes) != 3 {
			t.Errorf("cluster status on %s: leader %q, nodes %+v", n.name, o.Leader, o.Nodes)
		}
		for _, no := range o.Nodes {
			if !no.Alive {
				t.Errorf("cluster status on %s: %s not alive", n.name, no.Name)
			}
		}
		if len(o.Certificates) != len(c.certs) {
			t.Fatalf("cluster status on %s: certificates %+v", n.name, o.Certificates)
		}
		for _, co := range o.Certificates {
			if co.Version != c.live(co.Name) {
				t.Errorf("cluster status: %s version %s, etcd's live %s", co.Name, co.Version, c.live(co.Name))
			}
			for _, m := range c.nodes {
				if v := co.Served[m.name]; v.Version != co.Version || v.Verdict != "complete" || v.Serial != after[co.Name] {
					t.Errorf("cluster status: %s on %s: %+v, want %s complete serial %s", co.Name, m.name, v, co.Version, after[co.Name])
				}
			}
		}
	}
	text := n2.cli("cluster", "status")
	if text.Code != 0 || strings.Count(text.Stdout, "serves "+c.live("shop")) != 3 {
		t.Errorf("cluster status (text) does not show shop served on 3 nodes: %s", text)
	}

	// status on a node that never ordered shows the cluster's records.
	st := n3.cli("status", "--json")
	var rows struct {
		Certificates []struct {
			Name            string `json:"name"`
			Serial          string `json:"serial"`
			Version         string `json:"version"`
			DeployedVersion string `json:"deployed_version"`
			ServedChain     string `json:"served_chain"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(st.Stdout), &rows); st.Code != 0 || err != nil {
		t.Fatalf("status --json on n3: %v %s", err, st)
	}
	if len(rows.Certificates) != len(c.certs) {
		t.Fatalf("status on n3 lists %+v", rows.Certificates)
	}
	for _, r := range rows.Certificates {
		if r.Serial != after[r.Name] || r.Version != c.live(r.Name) || r.DeployedVersion != r.Version || r.ServedChain != "complete" {
			t.Errorf("status on n3: %+v; want serial %s, version %s deployed and served complete", r, after[r.Name], c.live(r.Name))
		}
	}
	if got := n3.archivedSerials("shop"); !slices.Contains(got, after["shop"]) {
		t.Errorf("n3's own storage holds %v, not the new %s", got, after["shop"])
	}
}

// checkCanaryGated asserts, from etcd's history, that the other
// certificates' new versions were committed only after every node had
// reported the canary's new version served: the canary gates the fleet.
func checkCanaryGated(t *testing.T, c *testCluster, since int64) {
	t.Helper()
	var canary string
	for _, cs := range c.certs {
		if cs.canary {
			canary = cs.name
		}
	}
	liveCanary := c.live(canary)
	served := map[string]int64{} // node -> revision its complete verdict on the new canary version
	var others []int64
	for _, ev := range c.history("") {
		if ev.Kv.ModRevision <= since || ev.Type != clientv3.EventTypePut {
			continue
		}
		key := strings.TrimPrefix(string(ev.Kv.Key), c.prefix)
		switch {
		case strings.HasPrefix(key, "nodes/") && strings.HasSuffix(key, "/served/"+canary):
			var v verdict
			if json.Unmarshal(ev.Kv.Value, &v) == nil && v.Version == liveCanary && v.Verdict == "complete" {
				node := strings.Split(key, "/")[1]
				if _, ok := served[node]; !ok {
					served[node] = ev.Kv.ModRevision
				}
			}
		case strings.HasPrefix(key, "versions/") && !strings.HasPrefix(key, "versions/"+canary+"/"):
			others = append(others, ev.Kv.ModRevision)
		}
	}
	if len(served) != len(c.nodes) || len(others) == 0 {
		t.Fatalf("history: canary served at %v, other versions committed at %v", served, others)
	}
	for node, rev := range served {
		for _, o := range others {
			if o < rev {
				t.Errorf("a version was committed at revision %d, before %s served the canary (revision %d)", o, node, rev)
			}
		}
	}
}
