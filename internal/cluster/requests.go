package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// ErrNoLeader is returned (wrapped) by Ask when no node leads: no `renewd
// run` is up in the cluster to order.
var ErrNoLeader = errors.New("no renewd daemon leads the cluster: start `renewd run` on the nodes")

// Request is a renewal asked of the leader from any node: `renewd renew`
// there.
type Request struct {
	Names      []string  `json:"names,omitempty"`
	Force      bool      `json:"force"`
	SkipCanary bool      `json:"skip_canary"`
	From       string    `json:"from"`
	At         time.Time `json:"at"`
}

// Result is what the leader did for a Request.
type Result struct {
	Leader string   `json:"leader"`
	Lines  []string `json:"lines"` // the progress lines of the pass
	// Summary is the last line; Failed says some certificate failed or
	// was held (the command exits 1).
	Summary string `json:"summary"`
	Failed  bool   `json:"failed"`
	Error   string `json:"error,omitempty"` // the pass could not run
}

// Ask hands req to the leader and waits for its result while ctx allows.
// The request is bound to a lease of its own: if the asker dies, it goes.
func Ask(ctx context.Context, cli *clientv3.Client, prefix string, req Request) (*Result, error) {
	k := keys{prefix}
	leader, err := Leader(ctx, cli, prefix)
	if errors.Is(err, rpctypes.ErrNoLeader) {
		return nil, fmt.Errorf("etcd has no quorum (fewer than a majority of its members answer), so no node can order or deploy; nginx keeps serving what each node has. Bring the etcd members back, then renew again (%w)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("etcd: find the leader: %w", err)
	}
	if leader == "" {
		return nil, ErrNoLeader
	}
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(30), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("etcd session: %w", err)
	}
	defer sess.Close()
	id := newID()
	req.At = time.Now().UTC() // exact: see renew.Options.Since
	data, _ := json.Marshal(req)
	wch := cli.Watch(clientv3.WithRequireLeader(ctx), k.result(id))
	if _, err := cli.Put(ctx, k.request(id), string(data), clientv3.WithLease(sess.Lease())); err != nil {
		return nil, fmt.Errorf("etcd: ask the leader: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = cli.Delete(dctx, k.result(id))
		cancel()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the leader (%s) did not answer in time: %w", leader, context.Cause(ctx))
		case resp, ok := <-wch:
			if !ok {
				return nil, errors.New("lost etcd while waiting for the leader's answer")
			}
			for _, ev := range resp.Events {
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				var res Result
				if err := json.Unmarshal(ev.Kv.Value, &res); err != nil {
					return nil, fmt.Errorf("the leader's answer: %w", err)
				}
				return &res, nil
			}
		}
	}
}

// ServeRequests runs the requests other nodes put, while this node leads:
// run does the pass; its result is put where the asker waits. It returns
// when ctx ends.
//
// It reads the pending requests again each time this node becomes the
// leader: a request the previous leader took and never answered (it died
// or stalled mid-pass) stays in etcd as long as its asker waits, and only
// the new leader can run it. It reads, then watches from the revision it
// read, so a request is never seen twice (twice would be two passes and,
// with --now, two orders).
func ServeRequests(ctx context.Context, cli *clientv3.Client, prefix string, lead *Leadership, node string,
	run func(context.Context, Request) Result, log *zap.Logger) {
	k := keys{prefix}
	for ctx.Err() == nil {
		won := lead.Won() // before the read: a leadership won after it reads again
		resp, err := cli.Get(ctx, k.requests(), clientv3.WithPrefix())
		if err == nil {
			for _, kv := range resp.Kvs {
				serveOne(ctx, cli, k, lead, node, string(kv.Key), kv.Value, run, log)
			}
			if followRequests(ctx, cli, k, lead, node, resp.Header.Revision+1, won, run, log) {
				continue // leadership won: read the pending requests now
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// followRequests serves the requests put from revision rev on, until the
// watch fails (false) or this node wins the leadership (true).
func followRequests(ctx context.Context, cli *clientv3.Client, k keys, lead *Leadership, node string, rev int64,
	won <-chan struct{}, run func(context.Context, Request) Result, log *zap.Logger) bool {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := cli.Watch(clientv3.WithRequireLeader(wctx), k.requests(), clientv3.WithPrefix(), clientv3.WithRev(rev))
	for {
		select {
		case <-won:
			return true
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil {
				return false
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypePut {
					serveOne(ctx, cli, k, lead, node, string(ev.Kv.Key), ev.Kv.Value, run, log)
				}
			}
		}
	}
}

func serveOne(ctx context.Context, cli *clientv3.Client, k keys, lead *Leadership, node, key string, value []byte,
	run func(context.Context, Request) Result, log *zap.Logger) {
	if !lead.Leading() {
		return // the leader answers; this node does not lead
	}
	id := strings.TrimPrefix(key, k.requests())
	var req Request
	res := Result{Leader: node}
	if err := json.Unmarshal(value, &req); err != nil {
		res.Error, res.Failed = "bad request: "+err.Error(), true
	} else {
		log.Info("renewal asked by a node", zap.String("from", req.From), zap.Strings("names", req.Names), zap.Bool("force", req.Force))
		start := time.Now()
		res = run(ctx, req)
		res.Leader = node
		log.Info("renewal asked by a node done", zap.String("from", req.From), zap.String("summary", res.Summary),
			zap.Bool("failed", res.Failed), zap.String("error", res.Error), zap.Duration("duration", time.Since(start)))
	}
	data, _ := json.Marshal(res)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Answer only a request still waiting: one a later leader answered
	// already (this node stalled mid-pass), or whose asker gave up, would
	// keep an answer nobody reads in etcd for good.
	resp, err := cli.Txn(pctx).If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(clientv3.OpPut(k.result(id), string(data)), clientv3.OpDelete(key)).Commit()
	switch {
	case err != nil:
		log.Warn("cannot answer a renewal request", zap.String("request", id), zap.Error(err))
	case !resp.Succeeded:
		log.Info("renewal request answered by another leader or given up by its asker; not answering it", zap.String("request", id))
	}
}
