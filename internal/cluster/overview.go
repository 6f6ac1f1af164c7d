package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/renewd/renewd/internal/store"
)

// Overview is `renewd cluster status`: the nodes, the leader, and what
// each node serves of every certificate.
type Overview struct {
	Leader       string                `json:"leader"`
	Nodes        []NodeStatus          `json:"nodes"`
	Certificates []CertificateOverview `json:"certificates"`
}

// NodeStatus is one node.
type NodeStatus struct {
	Name     string     `json:"name"`
	Alive    bool       `json:"alive"`
	LastSeen *time.Time `json:"last_seen"`
}

// CertificateOverview is one certificate across the cluster.
type CertificateOverview struct {
	Name    string             `json:"name"`
	Version string             `json:"version"` // live in etcd
	Served  map[string]Verdict `json:"served"`  // by node
}

// ReadOverview reads the cluster's state in one consistent read.
func ReadOverview(ctx context.Context, cli *clientv3.Client, prefix string) (*Overview, error) {
	k := keys{prefix}
	o := &Overview{}
	leader, err := Leader(ctx, cli, prefix)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	o.Leader = leader
	resp, err := cli.Get(ctx, k.nodes(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	nodes := map[string]*NodeStatus{}
	served := map[string]map[string]Verdict{}
	for _, kv := range resp.Kvs {
		node, tail, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), k.nodes()), "/")
		ns := nodes[node]
		if ns == nil {
			ns = &NodeStatus{Name: node}
			nodes[node] = ns
		}
		switch {
		case tail == "alive":
			ns.Alive = true
		case tail == "seen":
			if t, err := time.Parse(time.RFC3339, string(kv.Value)); err == nil {
				ns.LastSeen = &t
			}
		case strings.HasPrefix(tail, "served/"):
			var v Verdict
			if json.Unmarshal(kv.Value, &v) == nil {
				name := strings.TrimPrefix(tail, "served/")
				if served[name] == nil {
					served[name] = map[string]Verdict{}
				}
				served[name][node] = v
			}
		}
	}
	for _, n := range sortedKeys(nodes) {
		o.Nodes = append(o.Nodes, *nodes[n])
	}
	lives, err := cli.Get(ctx, k.lives(), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision))
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	for _, kv := range lives.Kvs {
		name := strings.TrimPrefix(string(kv.Key), k.lives())
		o.Certificates = append(o.Certificates, CertificateOverview{Name: name, Version: string(kv.Value), Served: served[name]})
	}
	slices.SortFunc(o.Certificates, func(a, b CertificateOverview) int { return strings.Compare(a.Name, b.Name) })
	return o, nil
}

// ReadRecords returns every certificate's record in etcd, for `renewd
// status` on any node; unusable ones are left out.
func ReadRecords(ctx context.Context, cli *clientv3.Client, prefix string) (map[string]*store.Record, error) {
	k := keys{prefix}
	resp, err := cli.Get(ctx, k.records(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("etcd: read records: %w", err)
	}
	out := map[string]*store.Record{}
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), k.records())
		if r, why := store.ParseRecord(name, kv.Value); why == "" {
			out[name] = r
		}
	}
	return out, nil
}
