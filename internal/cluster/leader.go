package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// ErrNotLeader is returned (wrapped) by every write of the leader's store
// once this node is not the leader any more: its lease expired (it was
// paused, partitioned or etcd lost quorum) and another node may lead.
var ErrNotLeader = errors.New("this node is not the cluster's leader (any more); nothing was committed")

// Leadership campaigns for this node to order for the cluster, through an
// etcd election bound to the node's session lease (etcd's concurrency
// package: the oldest campaigner's key wins, and a key disappears with its
// lease).
type Leadership struct {
	node *Node
	k    keys
	log  *zap.Logger

	mu     sync.Mutex
	el     *concurrency.Election // while leading
	ctx    context.Context       // ends when leadership does
	cancel context.CancelFunc
	won    chan struct{} // closed and replaced each time this node becomes the leader
}

// NewLeadership prepares a campaign for node.
func NewLeadership(node *Node, prefix string, log *zap.Logger) *Leadership {
	return &Leadership{node: node, k: keys{prefix}, log: log, won: make(chan struct{})}
}

// Won returns a channel closed the next time this node becomes the
// leader: what a previous leader left unanswered (a `renew` request) is
// this node's to answer then.
func (l *Leadership) Won() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.won
}

// Run campaigns until ctx ends, calling elected each time this node
// becomes the leader. When the session ends (the lease expired), the node
// is no longer leader at once and campaigns again with the next session.
func (l *Leadership) Run(ctx context.Context, elected func()) {
	for ctx.Err() == nil {
		sess, changed := l.node.Session()
		if sess == nil {
			select {
			case <-ctx.Done():
			case <-changed:
			}
			continue
		}
		el := concurrency.NewElection(sess, l.k.election())
		if err := el.Campaign(ctx, l.node.Name); err != nil {
			if ctx.Err() == nil {
				l.log.Warn("campaign for leadership failed; trying again", zap.Error(err))
				select {
				case <-ctx.Done():
				case <-changed:
				case <-time.After(time.Second):
				}
			}
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		l.mu.Lock()
		l.el, l.ctx, l.cancel = el, lctx, cancel
		close(l.won)
		l.won = make(chan struct{})
		l.mu.Unlock()
		l.log.Info("this node leads the cluster: it orders", zap.String("node", l.node.Name))
		elected()
		select {
		case <-ctx.Done():
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = el.Resign(rctx)
			rcancel()
		case <-sess.Done():
			l.log.Warn("leadership lost: the etcd session ended", zap.String("node", l.node.Name))
		}
		l.mu.Lock()
		l.el, l.ctx = nil, nil
		l.mu.Unlock()
		cancel()
	}
}

// Fence is the condition every write of the leader carries, and a context
// that ends with the leadership; ok is false when this node does not lead.
func (l *Leadership) Fence() (cmp clientv3.Cmp, ctx context.Context, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.el == nil {
		return clientv3.Cmp{}, nil, false
	}
	return clientv3.Compare(clientv3.CreateRevision(l.el.Key()), "=", l.el.Rev()), l.ctx, true
}

// Leading reports whether this node leads now (as far as it knows).
func (l *Leadership) Leading() bool {
	_, _, ok := l.Fence()
	return ok
}

// Leader returns the current leader's node name, "" when there is none.
// An etcd without a quorum fails it within seconds (rpctypes.ErrNoLeader):
// the read requires an etcd leader, where a plain read waits for one until
// ctx ends.
func Leader(ctx context.Context, cli *clientv3.Client, prefix string) (string, error) {
	resp, err := cli.Get(clientv3.WithRequireLeader(ctx), keys{prefix}.election()+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
