package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/cluster"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/crashpoint"
	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/renew"
	"github.com/renewd/renewd/internal/store"
)

// clusterNode is a `renewd run` that is one node of a cluster
// (docs/cluster.md): it is registered, campaigns to lead, follows the
// leader's deploy requests with its agent and, while it leads, runs the
// renewal passes against the cluster's store, and the renewals other nodes
// ask for.
type clusterNode struct {
	cli       *clientv3.Client
	node      *cluster.Node
	lead      *cluster.Leadership
	agent     *cluster.Agent
	cstore    *cluster.Store
	tokens    *cluster.Tokens
	responder *acme.Responder
	prefix    string
	timeout   config.Cluster
	log       *zap.Logger
	kick      chan struct{}
	ctx       context.Context // the node's life
	cancel    context.CancelFunc

	passMu    sync.Mutex // one pass at a time: the schedule's and the requests'
	current   atomic.Pointer[clusterPass]
	onRecords func(map[string]*store.Record) // the metrics, when served
}

// clusterPass is what the configuration in force runs a pass with.
type clusterPass struct {
	r        *renew.Renewer
	pass     func(context.Context, renew.Options) (*renew.Report, error)
	progress *logProgress
}

// startCluster connects to etcd, joins the cluster and starts the node's
// background work; the renewer is wired by configure.
func startCluster(ctx context.Context, cfg *config.Config, st *store.Store, log *zap.Logger) (*clusterNode, error) {
	key, err := config.ReadClusterKey(cfg.Cluster.KeyFile)
	if err != nil {
		return nil, fail(exitUsage, "cluster.key_file: %v", err)
	}
	cli, err := cluster.Connect(ctx, cfg.Cluster, log)
	if err != nil {
		return nil, fail(exitFailed, "cluster: %v", err)
	}
	if err := cluster.CheckKey(ctx, cli, cfg.Cluster.Prefix, key); err != nil {
		_ = cli.Close()
		if errors.Is(err, cluster.ErrKeyMismatch) {
			return nil, fail(exitUsage, "cluster: %v", err)
		}
		return nil, fail(exitFailed, "cluster: %v", err)
	}
	node, err := cluster.Join(ctx, cli, cfg.Cluster, log.Named("cluster"))
	if err != nil {
		_ = cli.Close()
		if errors.Is(err, cluster.ErrNodeNameInUse) {
			return nil, fail(exitUsage, "cluster: %v", err)
		}
		return nil, fail(exitFailed, "cluster: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cn := &clusterNode{cli: cli, node: node, prefix: cfg.Cluster.Prefix, timeout: cfg.Cluster, log: log.Named("cluster"),
		kick: make(chan struct{}, 1), ctx: cctx, cancel: cancel, responder: acme.NewResponder(log.Named("http01"))}
	cn.lead = cluster.NewLeadership(node, cn.prefix, cn.log)
	cn.cstore, err = cluster.NewStore(cli, cn.prefix, key, cn.lead, st, node.Name)
	if err != nil {
		cancel()
		_ = cli.Close()
		return nil, fail(exitUsage, "cluster: %v", err)
	}
	cn.tokens = &cluster.Tokens{Node: node, Cli: cli, Prefix: cn.prefix, Log: cn.log}
	cn.agent = &cluster.Agent{Node: node, Cli: cli, Prefix: cn.prefix, Key: key, Local: st, Responder: cn.responder, Log: cn.log.Named("agent"),
		Outage: func(down bool, err error) {
			if down {
				cn.log.Error("etcd unreachable: no orders and no deploys until it answers; nginx keeps serving what this node has", zap.Error(err))
			} else {
				cn.log.Info("etcd reachable again; catching up")
			}
		}}
	go node.Run(cctx)
	go cn.lead.Run(cctx, func() {
		select {
		case cn.kick <- struct{}{}:
		default:
		}
	})
	go cluster.ServeRequests(cctx, cli, cn.prefix, cn.lead, node.Name, cn.serveRequest, cn.log)
	cn.log.Info("joined the cluster", zap.String("node", node.Name), zap.Strings("etcd", cfg.Cluster.Etcd.Endpoints))
	return cn, nil
}

// watchOutages starts the node's watch of etcd (cluster.OutageWatch): the
// renewd_cluster_etcd_reachable metric, and an expiring warning, with the
// outage as its cause, for each certificate this node serves that nears
// expiry while etcd does not answer. Its clock is the one of renewal
// decisions.
func (cn *clusterNode) watchOutages(al *alerts, obs *observer, probeTimeout time.Duration) {
	w := &cluster.OutageWatch{
		Probe:   cluster.EtcdProbe(cn.cli, cn.prefix, probeTimeout),
		Served:  cn.agent.Served,
		Within:  al.expiringWithin,
		Warn:    al.warn,
		Observe: obs.observeEtcd,
		Log:     cn.log.Named("outage"),
		Outage:  &cluster.Outage{Now: crashpoint.Now},
	}
	go w.Run(cn.ctx)
}

// configure wires the renewer of a (re)loaded configuration to the cluster:
// the cluster's store, a deploy that waits for every node, and the node's
// agent on the new configuration. The agent starts with the first one.
func (cn *clusterNode) configure(cfg *config.Config, r *renew.Renewer, roots *x509.CertPool,
	pass func(context.Context, renew.Options) (*renew.Report, error), progress *logProgress) {
	r.Store = cn.cstore
	r.Deployer = &cluster.FleetDeployer{Cli: cn.cli, Prefix: cn.prefix, Lead: cn.lead, Timeout: cfg.Cluster.DeployTimeout, Log: cn.log}
	first := cn.current.Load() == nil
	cn.current.Store(&clusterPass{r: r, pass: pass, progress: progress})
	cn.agent.SetConfig(cfg, roots, &deploy.Deployer{Nginx: cfg.Nginx, Roots: roots, Log: cn.log.Named("deploy"), Progress: progress.Step})
	if first {
		go cn.agent.Run(cn.ctx)
	}
}

// acmeOptions make the leader's orders answer HTTP-01 through the node's
// responder and share their tokens; none outside a cluster.
func (cn *clusterNode) acmeOptions() []acme.Option {
	if cn == nil {
		return nil
	}
	return []acme.Option{acme.WithResponder(cn.responder), acme.WithTokenShare(cn.tokens)}
}

// renew is the daemon's pass: only the leader orders; a follower's tick
// does nothing (its agent deploys what the leader committed).
func (cn *clusterNode) renew(ctx context.Context) (string, error) {
	_, lctx, ok := cn.lead.Fence()
	if !ok {
		if cn.onRecords != nil {
			if recs, err := cluster.ReadRecords(ctx, cn.cli, cn.prefix); err == nil {
				cn.onRecords(recs)
			}
		}
		leader, _ := cluster.Leader(ctx, cn.cli, cn.prefix)
		return fmt.Sprintf("follower; %s leads and orders", orNone(leader)), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(lctx, cancel) // leadership lost: stop the pass
	defer stop()
	cn.passMu.Lock()
	defer cn.passMu.Unlock()
	rep, err := cn.current.Load().pass(ctx, renew.Options{})
	if err != nil {
		return "", err
	}
	return countOutcomes(rep.Results).String(), nil
}

// serveRequest runs a renewal another node asked for, with its lines.
func (cn *clusterNode) serveRequest(ctx context.Context, req cluster.Request) cluster.Result {
	_, lctx, ok := cn.lead.Fence()
	if !ok {
		return cluster.Result{Error: "this node stopped leading before it could run the renewal", Failed: true}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(lctx, cancel)
	defer stop()
	cn.passMu.Lock()
	defer cn.passMu.Unlock()
	cur := cn.current.Load()
	lines := &captureProgress{next: cur.progress}
	cur.r.Progress = lines
	defer func() { cur.r.Progress = cur.progress }()
	rep, err := cur.pass(ctx, renew.Options{Force: req.Force, Names: req.Names, SkipCanary: req.SkipCanary, Since: req.At})
	res := cluster.Result{Lines: lines.lines()}
	if err != nil {
		res.Error, res.Failed = err.Error(), true
		return res
	}
	o := countOutcomes(rep.Results)
	res.Summary, res.Failed = o.String(), o.failed+o.held > 0
	return res
}

func (cn *clusterNode) stop() {
	cn.cancel()
	_ = cn.cli.Close()
}

func orNone(s string) string {
	if s == "" {
		return "no node"
	}
	return s
}

// captureProgress keeps the lines of a pass run for another node, and
// passes them on to the log.
type captureProgress struct {
	next renew.Progress
	mu   sync.Mutex
	buf  []string
}

func (p *captureProgress) Step(name, step, detail string) {
	p.next.Step(name, step, detail)
	p.mu.Lock()
	p.buf = append(p.buf, fmt.Sprintf("%-16s %-7s %s", name, step, detail))
	p.mu.Unlock()
}

func (p *captureProgress) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.buf...)
}

// clusterRenew is `renewd renew` on a cluster node: the leader runs it,
// wherever it is, and this command prints what it did.
func clusterRenew(ctx context.Context, cfg *config.Config, names []string, force, skipCanary bool, wait time.Duration, stdout io.Writer, log *zap.Logger) error {
	cli, err := cluster.Connect(ctx, cfg.Cluster, log)
	if err != nil {
		return fail(exitFailed, "cluster: %v", err)
	}
	defer cli.Close()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	host, _ := os.Hostname()
	res, err := cluster.Ask(wctx, cli, cfg.Cluster.Prefix, cluster.Request{Names: names, Force: force, SkipCanary: skipCanary, From: orNone(cfg.Cluster.Node + "@" + host)})
	if err != nil {
		return fail(exitFailed, "cluster: %v", err)
	}
	fmt.Fprintf(stdout, "run by the leader, %s:\n", res.Leader)
	for _, l := range res.Lines {
		fmt.Fprintln(stdout, l)
	}
	if res.Error != "" {
		return fail(exitFailed, "%s", res.Error)
	}
	fmt.Fprintln(stdout, res.Summary)
	if res.Failed {
		return &exitError{code: exitFailed}
	}
	return nil
}
