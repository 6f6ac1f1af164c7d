package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

// ErrNodeNameInUse is returned (wrapped) by Join when another live renewd
// uses this node's name.
var ErrNodeNameInUse = errors.New("node name in use")

// aliveInfo is the value of nodes/<node>/alive.
type aliveInfo struct {
	Node    string    `json:"node"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// Node is this renewd's membership of the cluster: an etcd session whose
// lease keeps nodes/<node>/alive, renewed as long as the process runs and
// reaches etcd. When the session ends (etcd unreachable longer than the
// lease), Node makes a new one and registers again, and Sessions tells the
// parts that depend on it.
type Node struct {
	Name string

	cli  *clientv3.Client
	k    keys
	ttl  time.Duration
	log  *zap.Logger
	info aliveInfo

	mu      sync.Mutex
	sess    *concurrency.Session
	changed chan struct{} // closed and replaced when sess changes
}

// Join registers this node, waiting up to one lease for the name to come
// free (the previous run of this same node may still hold it); a name that
// stays taken is another node's, and Join fails with ErrNodeNameInUse. Run
// keeps the membership afterwards.
func Join(ctx context.Context, cli *clientv3.Client, cfg config.Cluster, log *zap.Logger) (*Node, error) {
	host, _ := os.Hostname()
	n := &Node{Name: cfg.Node, cli: cli, k: keys{cfg.Prefix}, ttl: cfg.LeaseTTL, log: log,
		info:    aliveInfo{Node: cfg.Node, Host: host, PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second)},
		changed: make(chan struct{})}
	deadline := time.Now().Add(cfg.LeaseTTL + 5*time.Second)
	for {
		sess, err := n.register(ctx)
		if err == nil {
			n.setSession(sess)
			return n, nil
		}
		if !errors.Is(err, ErrNodeNameInUse) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Second):
		}
	}
}

// register makes a session and puts the alive key under its lease, unless
// another lease holds it.
func (n *Node) register(ctx context.Context) (*concurrency.Session, error) {
	sess, err := concurrency.NewSession(n.cli, concurrency.WithTTL(int(n.ttl/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("etcd session: %w", err)
	}
	val, _ := json.Marshal(n.info)
	alive := n.k.alive(n.Name)
	resp, err := n.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(alive), "=", 0)).
		Then(clientv3.OpPut(alive, string(val), clientv3.WithLease(sess.Lease())), clientv3.OpPut(n.k.seen(n.Name), now())).
		Else(clientv3.OpGet(alive)).Commit()
	if err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("register node %s: %w", n.Name, err)
	}
	if !resp.Succeeded {
		_ = sess.Close()
		var other aliveInfo
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			_ = json.Unmarshal(kvs[0].Value, &other)
		}
		return nil, fmt.Errorf("%w: another renewd (host %s, pid %d, started %s) is node %q; give every node its own cluster.node",
			ErrNodeNameInUse, other.Host, other.PID, other.Started.Format(time.RFC3339), n.Name)
	}
	return sess, nil
}

func now() string { return time.Now().UTC().Truncate(time.Second).Format(time.RFC3339) }

func (n *Node) setSession(s *concurrency.Session) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sess = s
	close(n.changed)
	n.changed = make(chan struct{})
}

// Session returns the current session (nil while there is none) and a
// channel closed when it changes.
func (n *Node) Session() (*concurrency.Session, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sess, n.changed
}

// Run keeps the node registered until ctx ends: it refreshes
// nodes/<node>/seen every third of a lease and, when the session ends,
// registers again as soon as etcd answers. It closes the session at the
// end, so the node leaves at once instead of after a lease.
func (n *Node) Run(ctx context.Context) {
	tick := time.NewTicker(n.ttl / 3)
	defer tick.Stop()
	for {
		sess, _ := n.Session()
		var done <-chan struct{}
		if sess != nil {
			done = sess.Done()
		}
		select {
		case <-ctx.Done():
			if sess != nil {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				_, _ = n.cli.Delete(cctx, n.k.alive(n.Name))
				cancel()
				_ = sess.Close()
			}
			return
		case <-tick.C:
			if sess != nil {
				cctx, cancel := context.WithTimeout(ctx, n.ttl/3)
				_, _ = n.cli.Put(cctx, n.k.seen(n.Name), now())
				cancel()
			}
		case <-done:
			n.log.Warn("lost the etcd session; registering again when etcd answers", zap.String("node", n.Name))
			n.setSession(nil)
			n.reregister(ctx)
		}
	}
}

// reregister retries register until it succeeds or ctx ends.
func (n *Node) reregister(ctx context.Context) {
	wait := newBackoff(n.ttl)
	for ctx.Err() == nil {
		sess, err := n.register(ctx)
		if err == nil {
			n.setSession(sess)
			n.log.Info("registered again", zap.String("node", n.Name))
			return
		}
		n.log.Warn("cannot register in the cluster yet", zap.String("node", n.Name), zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(wait.delay):
		}
		wait.failed()
	}
}

// Alive lists the nodes with a live alive key.
func Alive(ctx context.Context, cli *clientv3.Client, prefix string) ([]string, error) {
	k := keys{prefix}
	resp, err := cli.Get(ctx, k.nodes(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, kv := range resp.Kvs {
		rest := string(kv.Key)[len(k.nodes()):]
		if node, ok := cutSuffix(rest, "/alive"); ok {
			out = append(out, node)
		}
	}
	return out, nil
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}
