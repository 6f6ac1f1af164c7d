package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/renew"
)

// deployRequest is the value of deploy/<name>: the leader asks every node
// to serve version; attempt tells one request from the next for the same
// version (a retry after a node failed).
type deployRequest struct {
	Version string    `json:"version"`
	Attempt string    `json:"attempt"`
	Serial  string    `json:"serial"`
	At      time.Time `json:"at"`
}

// Verdicts a node reports for a request.
const (
	VerdictComplete   = "complete"   // installed, reloaded, served with a complete chain (or stored, without a deploy)
	VerdictIncomplete = "incomplete" // served, but the chain nginx sends is not complete: rolled back
	VerdictFailed     = "failed"     // not served: Error says why (rolled back where it got that far)
)

// Verdict is the value of nodes/<node>/served/<name>.
type Verdict struct {
	Version string    `json:"version"`
	Attempt string    `json:"attempt"`
	Serial  string    `json:"serial,omitempty"`
	Verdict string    `json:"verdict"`
	At      time.Time `json:"at"`
	Error   string    `json:"error,omitempty"`
}

// FleetDeployer is the leader's renew.Deployer: a deploy is a request to
// every node, and it is done when every live node has reported the version
// served with a complete chain. So a canary gates the fleet: the others are
// ordered only once every live node serves the canary's new version. A
// node that dies while the leader waits is no longer waited for.
type FleetDeployer struct {
	Cli     *clientv3.Client
	Prefix  string
	Lead    *Leadership
	Timeout time.Duration // how long to wait for the nodes
	Log     *zap.Logger
}

var _ renew.Deployer = (*FleetDeployer)(nil)

// FleetError is a deploy that some nodes failed. ServedIncomplete says a
// node served the version with an incomplete chain.
type FleetError struct {
	Failures   map[string]string // node -> why
	incomplete bool
}

func (e *FleetError) Error() string {
	nodes := make([]string, 0, len(e.Failures))
	for n := range e.Failures {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = "node " + n + ": " + e.Failures[n]
	}
	return "not served on every node: " + strings.Join(parts, "; ")
}

// ServedIncomplete reports whether a node found the served chain
// incomplete (the renewer records served_chain: incomplete).
func (e *FleetError) ServedIncomplete() bool { return e.incomplete }

// Deploy asks every node to serve the items' versions and waits for their
// verdicts.
func (d *FleetDeployer) Deploy(ctx context.Context, items []*deploy.Item) map[string]error {
	errs := make(map[string]error, len(items))
	k := keys{d.Prefix}
	attempt := newID()
	fence, lctx, ok := d.Lead.Fence()
	if !ok {
		for _, it := range items {
			errs[it.Name] = ErrNotLeader
		}
		return errs
	}
	wctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	stop := context.AfterFunc(lctx, cancel) // leadership lost: stop waiting
	defer stop()
	var pending []*deploy.Item
	for _, it := range items {
		req, _ := json.Marshal(deployRequest{Version: it.Version, Attempt: attempt, Serial: fmt.Sprintf("%x", it.Leaf.SerialNumber), At: time.Now().UTC()})
		resp, err := d.Cli.Txn(wctx).If(fence).Then(clientv3.OpPut(k.deploy(it.Name), string(req))).Commit()
		switch {
		case err != nil:
			errs[it.Name] = fmt.Errorf("etcd: ask the nodes to deploy: %w", err)
		case !resp.Succeeded:
			errs[it.Name] = ErrNotLeader
		default:
			pending = append(pending, it)
		}
	}
	for name, err := range d.wait(wctx, k, pending, attempt) {
		errs[name] = err
	}
	return errs
}

// wait collects the verdicts of attempt from every live node, watching the
// nodes' keys, until each item has one from every node alive at that
// moment or ctx ends.
func (d *FleetDeployer) wait(ctx context.Context, k keys, items []*deploy.Item, attempt string) map[string]error {
	errs := map[string]error{}
	if len(items) == 0 {
		return errs
	}
	wch := d.Cli.Watch(clientv3.WithRequireLeader(ctx), k.nodes(), clientv3.WithPrefix())
	for {
		done, results := d.collect(ctx, k, items, attempt)
		if done {
			return results
		}
		select {
		case <-ctx.Done():
			for name, err := range results {
				errs[name] = err
			}
			return d.timedOut(ctx, k, items, attempt, errs)
		case _, ok := <-wch:
			if !ok {
				wch = d.Cli.Watch(clientv3.WithRequireLeader(ctx), k.nodes(), clientv3.WithPrefix())
			}
		}
	}
}

// collect reads the live nodes and their verdicts: done when every item
// has a verdict of attempt from each of them; the map holds each item's
// error (nil: served everywhere) as far as known.
func (d *FleetDeployer) collect(ctx context.Context, k keys, items []*deploy.Item, attempt string) (bool, map[string]error) {
	out := map[string]error{}
	nodes, verdicts, err := readVerdicts(ctx, d.Cli, k)
	if err != nil {
		return false, out
	}
	done := true
	for _, it := range items {
		fe := &FleetError{Failures: map[string]string{}}
		for _, n := range nodes {
			v, ok := verdicts[n][it.Name]
			switch {
			case !ok || v.Attempt != attempt:
				done = false
			case v.Verdict == VerdictIncomplete:
				fe.Failures[n], fe.incomplete = v.Error, true
			case v.Verdict != VerdictComplete:
				fe.Failures[n] = v.Error
			}
		}
		out[it.Name] = nil
		if len(fe.Failures) > 0 {
			out[it.Name] = fe
		}
	}
	return done, out
}

// timedOut names the nodes that did not answer.
func (d *FleetDeployer) timedOut(ctx context.Context, k keys, items []*deploy.Item, attempt string, known map[string]error) map[string]error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	nodes, verdicts, _ := readVerdicts(rctx, d.Cli, k)
	out := map[string]error{}
	for _, it := range items {
		fe := &FleetError{Failures: map[string]string{}}
		var prev *FleetError
		if errors.As(known[it.Name], &prev) {
			for n, why := range prev.Failures {
				fe.Failures[n] = why
			}
			fe.incomplete = prev.incomplete
		}
		for _, n := range nodes {
			if v, ok := verdicts[n][it.Name]; !ok || v.Attempt != attempt {
				fe.Failures[n] = fmt.Sprintf("no report within %s (is its renewd running, and does it reach etcd?)", d.Timeout)
			}
		}
		if len(fe.Failures) > 0 {
			out[it.Name] = fe
		}
	}
	return out
}

// readVerdicts returns the live nodes and every node's verdicts by name.
func readVerdicts(ctx context.Context, cli *clientv3.Client, k keys) ([]string, map[string]map[string]Verdict, error) {
	resp, err := cli.Get(ctx, k.nodes(), clientv3.WithPrefix())
	if err != nil {
		return nil, nil, err
	}
	var nodes []string
	verdicts := map[string]map[string]Verdict{}
	for _, kv := range resp.Kvs {
		rest := string(kv.Key)[len(k.nodes()):]
		node, tail, _ := strings.Cut(rest, "/")
		switch {
		case tail == "alive":
			nodes = append(nodes, node)
		case strings.HasPrefix(tail, "served/"):
			var v Verdict
			if json.Unmarshal(kv.Value, &v) == nil {
				if verdicts[node] == nil {
					verdicts[node] = map[string]Verdict{}
				}
				verdicts[node][strings.TrimPrefix(tail, "served/")] = v
			}
		}
	}
	return nodes, verdicts, nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
