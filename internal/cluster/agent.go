package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/store"
)

// Deployer installs items on this node and proves them served; see
// deploy.Deployer.
type Deployer interface {
	Deploy(ctx context.Context, items []*deploy.Item) map[string]error
}

// Agent is what every node runs, the leader included: it follows the
// leader's deploy requests, checks each new version's chain and key itself,
// keeps it in the node's own storage (the node's cache: it serves from it
// when etcd is away), deploys it to the node's nginx, proves it served and
// reports its verdict; and it answers the HTTP-01 tokens the leader
// publishes. It watches etcd, resuming from the last revision it saw and
// reading everything again after a compaction or a lost connection; while
// etcd is unreachable it keeps what it has and deletes nothing.
type Agent struct {
	Node      *Node
	Cli       *clientv3.Client
	Prefix    string
	Key       []byte // the cluster key
	Local     *store.Store
	Responder *acme.Responder
	Log       *zap.Logger
	// Progress, when set, gets a line per step, as the renewer's.
	Progress func(name, step, detail string)
	// Outage, when set, is told when etcd becomes unreachable (true) and
	// reachable again (false), for logs, metrics and notifications.
	Outage func(down bool, err error)

	k    keys
	seal *sealer
	conf atomic.Pointer[agentConfig] // SetConfig

	mu         sync.Mutex
	applied    map[string]Verdict     // this node's last verdict, by name
	tokens     map[string]servedToken // token key -> what was done to serve it
	kick       chan struct{}
	pending    map[string]deployRequest
	unreported map[string]unreported // verdicts etcd did not take yet, by name
}

// unreported is a verdict whose report failed; the worker reports it again.
type unreported struct {
	v   Verdict
	req deployRequest
}

// retryMax bounds the delay between attempts to follow etcd, to report a
// verdict or to serve and acknowledge a token again.
const retryMax = 30 * time.Second

type servedToken struct{ addr, webroot, token string }

// agentConfig is what a configuration gives the agent.
type agentConfig struct {
	cfg      *config.Config
	roots    *x509.CertPool
	deployer Deployer
}

// SetConfig gives the agent the configuration in force (at start and on
// every reload): the certificates it serves, the roots it checks chains
// against, and how it deploys.
func (a *Agent) SetConfig(cfg *config.Config, roots *x509.CertPool, d Deployer) {
	a.conf.Store(&agentConfig{cfg: cfg, roots: roots, deployer: d})
}

func (a *Agent) config() *agentConfig { return a.conf.Load() }

// Run follows etcd until ctx ends.
func (a *Agent) Run(ctx context.Context) {
	a.k, a.applied, a.tokens, a.kick, a.pending = keys{a.Prefix}, map[string]Verdict{}, map[string]servedToken{}, make(chan struct{}, 1), map[string]deployRequest{}
	a.unreported = map[string]unreported{}
	s, err := newSealer(a.Key)
	if err != nil {
		a.Log.Error("cluster key unusable; this node cannot take new versions", zap.Error(err))
	}
	a.seal = s
	go a.worker(ctx)
	wait := newBackoff(retryMax)
	down := false
	for ctx.Err() == nil {
		err := a.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errCompacted) {
			// etcd answers; it dropped history this node had not read
			// (routine with auto-compaction): no outage to report.
			a.Log.Info("reading everything again", zap.Error(err))
			continue
		}
		if !down && a.Outage != nil {
			a.Outage(true, err)
		}
		down = true
		a.Log.Warn("lost etcd; serving what this node has, following again when it answers", zap.Error(err), zap.Duration("retry_in", wait.delay))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait.delay):
		}
		wait.failed()
		if _, err := a.Cli.Get(ctx, a.k.deploys(), clientv3.WithPrefix(), clientv3.WithCountOnly()); err == nil {
			wait.reset()
			down = false
			if a.Outage != nil {
				a.Outage(false, nil)
			}
		}
	}
}

// follow reads the deploy requests and tokens, then watches both from the
// revision read, until the watch fails (a compaction, a lost leader, etcd
// gone): then it returns and Run reads everything again.
func (a *Agent) follow(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	reqs, err := a.Cli.Get(rctx, a.k.deploys(), clientv3.WithPrefix())
	cancel()
	if err != nil {
		return err
	}
	if err := a.readVerdicts(ctx, reqs.Header.Revision); err != nil {
		return err
	}
	for _, kv := range reqs.Kvs {
		a.onRequest(string(kv.Key), kv.Value)
	}
	rctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	toks, err := a.Cli.Get(rctx, a.k.tokens(), clientv3.WithPrefix(), clientv3.WithRev(reqs.Header.Revision))
	cancel()
	if err != nil {
		return err
	}
	// Tokens not served or not acknowledged yet (key -> key authorization),
	// tried again after a second, then after longer delays, until they
	// are or they are withdrawn.
	failed := a.syncTokens(ctx, toks.Kvs)
	var retry <-chan time.Time
	wait := newBackoff(retryMax)
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	next := reqs.Header.Revision + 1
	deploys := a.Cli.Watch(wctx, a.k.deploys(), clientv3.WithPrefix(), clientv3.WithRev(next))
	tokens := a.Cli.Watch(wctx, a.k.tokens(), clientv3.WithPrefix(), clientv3.WithRev(next))
	for {
		if len(failed) > 0 && retry == nil {
			retry = time.After(wait.delay)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-retry:
			retry = nil
			for _, key := range sortedKeys(failed) {
				if a.serveToken(ctx, key, failed[key]) {
					delete(failed, key)
				}
			}
			if len(failed) > 0 {
				wait.failed()
			} else {
				wait.reset()
			}
		case resp, ok := <-deploys:
			if err := watchErr(resp, ok); err != nil {
				return err
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypePut {
					a.onRequest(string(ev.Kv.Key), ev.Kv.Value)
				}
			}
		case resp, ok := <-tokens:
			if err := watchErr(resp, ok); err != nil {
				return err
			}
			for _, ev := range resp.Events {
				key := string(ev.Kv.Key)
				delete(failed, key)
				if ev.Type == clientv3.EventTypePut {
					if !a.serveToken(ctx, key, string(ev.Kv.Value)) {
						failed[key] = string(ev.Kv.Value)
					}
				} else {
					a.forgetToken(ctx, key)
				}
			}
		}
	}
}

// errCompacted is a watch that cannot resume: etcd compacted the history
// it had not read yet.
var errCompacted = errors.New("etcd compacted the history this node had not read")

func watchErr(resp clientv3.WatchResponse, ok bool) error {
	switch {
	case !ok:
		return errors.New("watch closed")
	case resp.CompactRevision != 0:
		return fmt.Errorf("%w (up to revision %d)", errCompacted, resp.CompactRevision)
	case resp.Err() != nil:
		if errors.Is(resp.Err(), rpctypes.ErrCompacted) {
			return fmt.Errorf("%w: %w", errCompacted, resp.Err())
		}
		return resp.Err()
	}
	return nil
}

// onRequest queues a deploy request this node has not reported on.
func (a *Agent) onRequest(key string, value []byte) {
	name := strings.TrimPrefix(key, a.k.deploys())
	var req deployRequest
	if store.ValidName(name) != nil || json.Unmarshal(value, &req) != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if prev, ok := a.applied[name]; ok && prev.Attempt == req.Attempt {
		return // reported on already, by this run or an earlier one
	}
	a.pending[name] = req
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// worker applies the pending requests in batches: one nginx reload for
// all that arrived together. A verdict etcd did not take (a write failed
// while etcd elected a leader, or the connection dropped) is reported
// again after a second, then after longer delays: the leader waits for it,
// and the watch that brought the request may well go on without a break,
// so nothing else would bring the request back.
func (a *Agent) worker(ctx context.Context) {
	var retry <-chan time.Time
	wait := newBackoff(retryMax)
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
			a.mu.Lock()
			batch := a.pending
			a.pending = map[string]deployRequest{}
			a.mu.Unlock()
			if len(batch) > 0 {
				a.apply(ctx, batch)
			}
		case <-retry:
			retry = nil
			if a.reportAgain(ctx) {
				wait.failed()
			} else {
				wait.reset()
			}
		}
		a.mu.Lock()
		failed := len(a.unreported) > 0
		a.mu.Unlock()
		if failed && retry == nil {
			retry = time.After(wait.delay)
		}
	}
}

// reportAgain reports the verdicts whose report failed; it returns whether
// some still are not reported.
func (a *Agent) reportAgain(ctx context.Context) bool {
	a.mu.Lock()
	again := a.unreported
	a.unreported = map[string]unreported{}
	a.mu.Unlock()
	for _, name := range sortedKeys(again) {
		a.mu.Lock()
		_, newer := a.pending[name]
		a.mu.Unlock()
		if !newer { // else the next batch applies and reports the newer one
			a.report(ctx, name, again[name].v, again[name].req)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.unreported) > 0
}

// apply takes each requested version into the local storage, deploys
// them together and reports a verdict for each.
func (a *Agent) apply(ctx context.Context, batch map[string]deployRequest) {
	verdicts := map[string]Verdict{}
	var items []*deploy.Item
	a.mu.Lock()
	for name := range batch {
		delete(a.unreported, name) // a newer request: its verdict is the one to report
	}
	a.mu.Unlock()
	for _, name := range sortedKeys(batch) {
		req := batch[name]
		if a.serves(name, req.Version) {
			// Asked again (another node failed): nothing to do here.
			verdicts[name] = Verdict{Verdict: VerdictComplete}
			continue
		}
		it, err := a.take(ctx, name, req)
		switch {
		case err != nil:
			verdicts[name] = Verdict{Verdict: VerdictFailed, Error: err.Error()}
			a.step(name, "failed", fmt.Sprintf("version %s not taken: %v", req.Version, err))
		case it == nil: // stored; nothing to deploy on this node
			verdicts[name] = Verdict{Verdict: VerdictComplete}
		default:
			items = append(items, it)
		}
	}
	if len(items) > 0 {
		errs := a.config().deployer.Deploy(ctx, items)
		for _, it := range items {
			v := Verdict{Verdict: VerdictComplete, Serial: fmt.Sprintf("%x", it.Leaf.SerialNumber)}
			var inc *chain.IncompleteError
			if err := errs[it.Name]; errors.As(err, &inc) {
				v.Verdict, v.Error = VerdictIncomplete, err.Error()
			} else if err != nil {
				v.Verdict, v.Error = VerdictFailed, err.Error()
			}
			verdicts[it.Name] = v
		}
	}
	for name, v := range verdicts {
		req := batch[name]
		v.Version, v.Attempt, v.At = req.Version, req.Attempt, time.Now().UTC().Truncate(time.Second)
		if v.Serial == "" {
			v.Serial = req.Serial
		}
		a.report(ctx, name, v, req)
	}
}

// take checks a requested version and keeps it in the local storage; it
// returns the item to deploy, nil when the certificate has no deploy
// block.
func (a *Agent) take(ctx context.Context, name string, req deployRequest) (*deploy.Item, error) {
	conf := a.config()
	cert := conf.cfg.Certificate(name)
	if cert == nil {
		return nil, fmt.Errorf("certificate %s is not in this node's domains.d", name)
	}
	if a.seal == nil {
		return nil, errors.New("cluster.key_file is unusable on this node")
	}
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	files, err := getVersion(gctx, a.Cli, a.k, a.seal, name, req.Version)
	cancel()
	if err != nil {
		return nil, err
	}
	leaf, err := checkVersion(cert, files, conf.roots)
	if err != nil {
		return nil, fmt.Errorf("version %s refused: %w", req.Version, err)
	}
	if err := a.Local.PutVersion(name, req.Version, files); err != nil {
		return nil, fmt.Errorf("keep version %s: %w", req.Version, err)
	}
	a.step(name, "stored", fmt.Sprintf("%s -> %s (from the cluster)", a.Local.LiveDir(name), req.Version))
	if !cert.Deploy.Enabled() {
		return nil, nil
	}
	return &deploy.Item{Name: name, Domains: cert.Domains, Deploy: cert.Deploy, Files: files, Leaf: leaf,
		Version: req.Version, LiveDir: a.Local.LiveDir(name)}, nil
}

// checkVersion judges a version as the leader did before it stored it: a
// complete chain to a trusted root, the key matching the leaf, the names
// this node's configuration asks for. A node trusts no other node.
func checkVersion(cert *config.Certificate, f store.Files, roots *x509.CertPool) (*x509.Certificate, error) {
	certs, err := chain.ParsePEM(f.Fullchain)
	if err != nil {
		return nil, fmt.Errorf("fullchain: %w", err)
	}
	if _, err := chain.Verify(certs, chain.Options{Roots: roots, Now: time.Now()}); err != nil {
		return nil, err
	}
	if _, err := tls.X509KeyPair(f.Fullchain, f.Key); err != nil {
		return nil, err
	}
	a, b := slices.Clone(certs[0].DNSNames), slices.Clone(cert.Domains)
	for i := range a {
		a[i] = strings.ToLower(a[i])
	}
	for i := range b {
		b[i] = strings.ToLower(b[i])
	}
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(slices.Compact(a), slices.Compact(b)) {
		return nil, fmt.Errorf("its names %v are not this node's configured %v", certs[0].DNSNames, cert.Domains)
	}
	return certs[0], nil
}

// report writes this node's verdict. Until it is written the request
// counts as not applied (a read after a lost connection applies it again)
// and the worker tries to report it again.
func (a *Agent) report(ctx context.Context, name string, v Verdict, req deployRequest) {
	data, _ := json.Marshal(v)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := a.Cli.Put(rctx, a.k.served(a.Node.Name, name), string(data))
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		a.Log.Warn("verdict not reported; reporting it again shortly", zap.String("certificate", name), zap.Error(err))
		a.mu.Lock()
		if _, newer := a.pending[name]; !newer {
			a.unreported[name] = unreported{v: v, req: req}
		}
		a.mu.Unlock()
		return
	}
	a.mu.Lock()
	a.applied[name] = v
	a.mu.Unlock()
	level := a.Log.Info
	if v.Verdict != VerdictComplete {
		level = a.Log.Warn
	}
	level("verdict reported", zap.String("certificate", name), zap.String("version", v.Version), zap.String("verdict", v.Verdict), zap.String("error", v.Error))
}

func (a *Agent) step(name, step, detail string) {
	if a.Progress != nil {
		a.Progress(name, step, detail)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// readVerdicts loads what this node reported before, as of rev: a request
// it already answered is not applied again when renewd restarts.
func (a *Agent) readVerdicts(ctx context.Context, rev int64) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := a.Cli.Get(rctx, a.k.servedAll(a.Node.Name), clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, kv := range resp.Kvs {
		var v Verdict
		if json.Unmarshal(kv.Value, &v) == nil {
			a.applied[strings.TrimPrefix(string(kv.Key), a.k.servedAll(a.Node.Name))] = v
		}
	}
	return nil
}

// serves reports whether this node already serves version of name: its
// last verdict says so and its live link points there.
func (a *Agent) serves(name, version string) bool {
	a.mu.Lock()
	v, ok := a.applied[name]
	a.mu.Unlock()
	if !ok || v.Version != version || v.Verdict != VerdictComplete {
		return false
	}
	live, err := a.Local.LiveVersion(name)
	return err == nil && live == version
}
