package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/deploy"
	"github.com/renewd/renewd/internal/store"
	"github.com/renewd/renewd/internal/testpki"
)

// fakeDeployer records what the agent deployed and answers err.
type fakeDeployer struct {
	mu    sync.Mutex
	items []string
	err   error
}

func (f *fakeDeployer) Deploy(_ context.Context, items []*deploy.Item) map[string]error {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]error{}
	for _, it := range items {
		f.items = append(f.items, it.Name+"@"+it.Version)
		out[it.Name] = f.err
	}
	return out
}

// waitVerdict polls node's verdict for name until cond holds.
func waitVerdict(t *testing.T, cli *clientv3.Client, prefix, node, name string, cond func(Verdict) bool) Verdict {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := cli.Get(context.Background(), keys{prefix}.served(node, name))
		var v Verdict
		if err == nil && len(resp.Kvs) == 1 && json.Unmarshal(resp.Kvs[0].Value, &v) == nil && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verdict of %s for %s as wanted; last %+v (%v)", node, name, v, err)
		}
		time.Sleep(50 * time.Millisecond) // polling etcd, not waiting for time
	}
}

// TestAgentTakesVersions: a follower takes a committed version into its
// own storage and deploys it; a follower with another cluster key cannot
// open the key, says so in its verdict, deploys nothing and keeps what it
// serves.
func TestAgentTakesVersions(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	cli, cc, leader, root, files := leaderAndChain(t, key)
	cert := &config.Certificate{Name: "shop", Domains: []string{"shop.example.com"}, Deploy: config.Deploy{Fullchain: "/x/fullchain.pem", Key: "/x/key.pem", Nginx: true}}
	cfg := &config.Config{Certificates: []*config.Certificate{cert}}

	agent := func(name string, key []byte) (*fakeDeployer, *Agent) {
		n, _ := join(t, cli, cc, name)
		d := &fakeDeployer{}
		a := &Agent{Node: n, Cli: cli, Prefix: cc.Prefix, Key: key, Local: openLocal(t), Responder: acme.NewResponder(zap.NewNop()), Log: zap.NewNop()}
		a.SetConfig(cfg, testpki.Pool(root), d)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go a.Run(ctx)
		return d, a
	}
	good, goodAgent := agent("n2", key)
	wrong, wrongAgent := agent("n3", bytes.Repeat([]byte{9}, 32))

	v, err := leader.SaveVersion("shop", files)
	if err != nil {
		t.Fatal(err)
	}
	if got := waitVerdict(t, cli, cc.Prefix, "n2", "shop", func(x Verdict) bool { return x.Version == v }); got.Verdict != VerdictComplete {
		t.Errorf("n2 verdict %+v, want complete", got)
	}
	if live, err := goodAgent.Local.LiveVersion("shop"); err != nil || live != v {
		t.Errorf("n2's own live version %q, %v; want %s", live, err, v)
	}
	if len(good.items) != 1 {
		t.Errorf("n2 deployed %v, want the version once", good.items)
	}
	got := waitVerdict(t, cli, cc.Prefix, "n3", "shop", func(x Verdict) bool { return x.Version == v })
	if got.Verdict != VerdictFailed || !strings.Contains(got.Error, "cannot decrypt") {
		t.Errorf("n3 verdict %+v, want failed: cannot decrypt", got)
	}
	if len(wrong.items) != 0 {
		t.Errorf("n3 deployed %v without its key", wrong.items)
	}
	if _, err := wrongAgent.Local.LiveVersion("shop"); err == nil {
		t.Error("n3 made live a version it could not open")
	}
}

// TestFleetDeployerWaitsForEveryNode: a deploy is done when every live
// node has served it; a node that reports a failure fails it, naming the
// node; a node that never reports times out, named too.
func TestFleetDeployerWaitsForEveryNode(t *testing.T) {
	cli, cc := startEtcd(t)
	key := bytes.Repeat([]byte{1}, 32)
	n1, _ := join(t, cli, cc, "n1")
	l1 := lead(t, n1, cc.Prefix)
	b := testpki.New(t, time.Now())
	root := b.Root()
	inter := b.Issue(root, testpki.CA(true))
	leaf := b.Issue(inter, testpki.Names("shop.example.com"))
	cert := &config.Certificate{Name: "shop", Domains: []string{"shop.example.com"}, Deploy: config.Deploy{Fullchain: "/x/f.pem", Key: "/x/k.pem", Nginx: true}}
	cfg := &config.Config{Certificates: []*config.Certificate{cert}}
	leaderStore, err := NewStore(cli, cc.Prefix, key, l1, openLocal(t), "n1")
	if err != nil {
		t.Fatal(err)
	}
	version, err := leaderStore.SaveVersion("shop", filesOf(leaf, inter))
	if err != nil {
		t.Fatal(err)
	}
	start := func(node *Node, d Deployer) {
		a := &Agent{Node: node, Cli: cli, Prefix: cc.Prefix, Key: key, Local: openLocal(t), Responder: acme.NewResponder(zap.NewNop()), Log: zap.NewNop()}
		a.SetConfig(cfg, testpki.Pool(root), d)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go a.Run(ctx)
	}
	start(n1, &fakeDeployer{})
	n2, _ := join(t, cli, cc, "n2")
	start(n2, &fakeDeployer{err: context.DeadlineExceeded})
	item := &deploy.Item{Name: "shop", Version: version, Leaf: leaf.Cert}
	fd := &FleetDeployer{Cli: cli, Prefix: cc.Prefix, Lead: l1, Timeout: 20 * time.Second, Log: zap.NewNop()}
	errs := fd.Deploy(context.Background(), []*deploy.Item{item})
	if err := errs["shop"]; err == nil || !strings.Contains(err.Error(), "node n2:") || strings.Contains(err.Error(), "node n1:") {
		t.Errorf("deploy error %v, want n2's failure alone", err)
	}

	join(t, cli, cc, "n3") // alive, but no agent: it never reports
	fd.Timeout = 2 * time.Second
	errs = fd.Deploy(context.Background(), []*deploy.Item{item})
	if err := errs["shop"]; err == nil || !strings.Contains(err.Error(), "node n3: no report within 2s") {
		t.Errorf("deploy error %v, want n3 named for not reporting", err)
	}
}

// failFirstPut fails the first Put of a key under prefix, as a write does
// while etcd elects a leader of its own; the watches of the client go on.
type failFirstPut struct {
	clientv3.KV
	prefix string

	mu     sync.Mutex
	failed int
}

func (f *failFirstPut) Put(ctx context.Context, key, val string, opts ...clientv3.OpOption) (*clientv3.PutResponse, error) {
	if strings.HasPrefix(key, f.prefix) {
		f.mu.Lock()
		first := f.failed == 0
		f.failed++
		f.mu.Unlock()
		if first {
			return nil, rpctypes.ErrLeaderChanged
		}
	}
	return f.KV.Put(ctx, key, val, opts...)
}

// leaderAndChain starts etcd, makes node n1 its leader with a Store sealing
// with key, and builds a chain for shop.example.com (root, intermediate,
// leaf) for the leader to store and the agents to take.
func leaderAndChain(t *testing.T, key []byte) (*clientv3.Client, config.Cluster, *Store, *testpki.Cert, store.Files) {
	t.Helper()
	cli, cc := startEtcd(t)
	n1, _ := join(t, cli, cc, "n1")
	leader, err := NewStore(cli, cc.Prefix, key, lead(t, n1, cc.Prefix), openLocal(t), "n1")
	if err != nil {
		t.Fatal(err)
	}
	b := testpki.New(t, time.Now())
	root := b.Root()
	inter := b.Issue(root, testpki.CA(true))
	leaf := b.Issue(inter, testpki.Names("shop.example.com"))
	return cli, cc, leader, root, filesOf(leaf, inter)
}

// TestAgentReportsAgain: a verdict whose write fails is written again
// (the leader waits for it, and the agent's watch, still open, brings the
// request no second time), without deploying the version again.
func TestAgentReportsAgain(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	cli, cc, leader, root, files := leaderAndChain(t, key)
	cert := &config.Certificate{Name: "shop", Domains: []string{"shop.example.com"}, Deploy: config.Deploy{Fullchain: "/x/f.pem", Key: "/x/k.pem", Nginx: true}}

	own, err := Connect(context.Background(), cc, zap.NewNop()) // n2's client, whose first report fails
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = own.Close() })
	flaky := &failFirstPut{KV: own.KV, prefix: keys{cc.Prefix}.servedAll("n2")}
	own.KV = flaky
	n2, _ := join(t, cli, cc, "n2")
	d := &fakeDeployer{}
	a := &Agent{Node: n2, Cli: own, Prefix: cc.Prefix, Key: key, Local: openLocal(t), Responder: acme.NewResponder(zap.NewNop()), Log: zap.NewNop()}
	a.SetConfig(&config.Config{Certificates: []*config.Certificate{cert}}, testpki.Pool(root), d)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.Run(ctx)

	v, err := leader.SaveVersion("shop", files)
	if err != nil {
		t.Fatal(err)
	}
	got := waitVerdict(t, cli, cc.Prefix, "n2", "shop", func(x Verdict) bool { return x.Version == v })
	if got.Verdict != VerdictComplete {
		t.Errorf("n2 verdict %+v, want complete", got)
	}
	flaky.mu.Lock()
	puts := flaky.failed
	flaky.mu.Unlock()
	if puts != 2 {
		t.Errorf("%d writes of n2's verdict, want 2: the one that failed and the one after it", puts)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.items) != 1 {
		t.Errorf("n2 deployed %v, want the version once", d.items)
	}
}
