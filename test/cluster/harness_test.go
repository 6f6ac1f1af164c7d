package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/test/harness"
)

// The cluster settings every scenario uses: a short lease so a takeover
// takes seconds, small timeouts so failures show quickly.
const (
	leaseTTL      = 5 * time.Second
	dialTimeout   = 2 * time.Second
	deployTimeout = 30 * time.Second
	// converge bounds waits for every node to take a version: a lease, a
	// re-registration, an order, a deploy with nginx -t, reload and the
	// served-chain check, on two busy cores.
	converge = 90 * time.Second
)

// certSpec is a certificate in every node's domains.d.
type certSpec struct {
	name   string
	canary bool
}

// testCluster is one scenario's cluster: three nodes with their own nginx,
// storage and domains.d, sharing the package's etcd under the scenario's
// own prefix, and the package's Pebble through the scenario's own
// counting proxy.
type testCluster struct {
	t        *testing.T
	name     string // the scenario: the key prefix and the test domains
	prefix   string
	ca       *caProxy
	cli      *clientv3.Client
	certs    []certSpec
	nodes    []*node
	port     int   // every node's nginx HTTPS port, on the node's address
	startRev int64 // etcd's revision when the scenario began
}

// node is one renewd node: a `renewd run` on 127.0.0.N with its own nginx.
type node struct {
	c       *testCluster
	name    string // n1, n2, n3
	ip      string
	dir     string
	config  string
	storage string
	ng      *nodeNginx

	// What the next start uses; a scenario changes them first.
	endpoints []string
	etcdTLS   string // the cluster.etcd.tls flow mapping; "" for none
	extra     string // more top-level settings (metrics, notify)
	keyFile   string
	bin       string
	env       []string

	d    *harness.Process // the running `renewd run`; nil before the first start
	runs int
}

func newCluster(t *testing.T, name string, certs ...certSpec) *testCluster {
	t.Helper()
	if len(certs) == 0 {
		certs = []certSpec{{name: "site"}}
	}
	c := &testCluster{t: t, name: name, prefix: "/renewd-test/" + name + "/", ca: startCAProxy(t), cli: etcdClient(t), certs: certs}
	c.port = harness.MustFreePortOn(t, nodeIPs...)
	base := t.TempDir()
	for i, ip := range nodeIPs {
		n := &node{c: c, name: fmt.Sprintf("n%d", i+1), ip: ip, dir: filepath.Join(base, fmt.Sprintf("n%d", i+1)),
			endpoints: env.etcd.Endpoints, keyFile: env.keyFile, bin: env.renewd}
		n.config, n.storage = filepath.Join(n.dir, "renewd.yaml"), filepath.Join(n.dir, "storage")
		if err := os.MkdirAll(filepath.Join(n.dir, "domains.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		n.ng = newNginx(t, filepath.Join(n.dir, "nginx"))
		for _, cs := range certs {
			writePlaceholder(t, n.deployed(cs.name, "fullchain.pem"), n.deployed(cs.name, "privkey.pem"))
			n.ng.Servers = append(n.ng.Servers, harness.TLSServerAt(n.addr(), c.domains(cs.name), n.deployed(cs.name, "fullchain.pem"), n.deployed(cs.name, "privkey.pem")))
		}
		n.ng.StartAt(n.addr())
		n.writeConfig()
		c.nodes = append(c.nodes, n)
	}
	c.startRev = c.revision()
	t.Cleanup(c.cleanup)
	return c
}

// cleanup kills the scenario's daemons (by their pids), shows their logs
// when the scenario failed, and deletes the scenario's keys.
func (c *testCluster) cleanup() {
	for _, n := range c.nodes {
		if n.d != nil && !n.d.Exited() {
			_ = n.d.Signal(syscall.SIGCONT)
			n.d.Stop()
		}
	}
	if c.t.Failed() {
		for _, n := range c.nodes {
			for i := 1; i <= n.runs; i++ {
				data, _ := os.ReadFile(n.logFile(i))
				s := string(data)
				if len(s) > 12000 {
					s = "...\n" + s[len(s)-12000:]
				}
				c.t.Logf("%s run %d log:\n%s", n.name, i, s)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.cli.Delete(ctx, c.prefix, clientv3.WithPrefix())
}

func (c *testCluster) domains(cert string) []string {
	return []string{cert + "." + c.name + ".cluster.example.com"}
}

func (c *testCluster) allDomains() []string {
	var out []string
	for _, cs := range c.certs {
		out = append(out, c.domains(cs.name)...)
	}
	return out
}

func (c *testCluster) node(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	c.t.Fatalf("no node %s", name)
	return nil
}

// pointAt makes the CA reach every test domain at n only.
func (c *testCluster) pointAt(n *node) {
	c.t.Helper()
	if err := env.chall.PointAt(n.ip, c.allDomains()...); err != nil {
		c.t.Fatal(err)
	}
}

func (n *node) addr() string { return fmt.Sprintf("%s:%d", n.ip, n.c.port) }

func (n *node) deployed(cert, file string) string { return filepath.Join(n.dir, "deploy", cert, file) }

func (n *node) logFile(run int) string { return filepath.Join(n.dir, fmt.Sprintf("run-%d.log", run)) }

// yamlList renders items as a YAML flow list.
func yamlList(items []string) string { return harness.YAMLArgv(items) }

// writeConfig writes the node's renewd.yaml and domains.d: HTTP-01 answered
// by the node's own responder on its address and Pebble's HTTP port, the
// deploy into the node's nginx, proven on the node's address.
func (n *node) writeConfig() {
	c := n.c
	cfg := fmt.Sprintf(`storage: %s
acme:
  directory: %s
  email: cluster@example.com
  ca_certificates: [%s]
  profile: default
trust:
  extra_roots: [%s]
retry: {initial: 1s, max: 2s}
nginx:
  test: %s
  reload: %s
  timeout: 10s
  verify: {address: %q, timeout: 5s}
cluster:
  node: %s
  etcd: {endpoints: %s, dial_timeout: %s%s}
  prefix: %s
  key_file: %s
  lease_ttl: %s
  deploy_timeout: %s
`, n.storage, c.ca.DirURL, env.tlsCAFile, env.pebble.RootFile, yamlList(n.ng.Argv("-t")), yamlList(n.ng.Argv("-s", "reload")),
		n.addr(), n.name, yamlList(n.endpoints), dialTimeout, n.etcdTLSSetting(), c.prefix, n.keyFile, leaseTTL, deployTimeout)
	cfg += n.extra
	if err := os.WriteFile(n.config, []byte(cfg), 0o644); err != nil {
		c.t.Fatal(err)
	}
	for _, cs := range c.certs {
		cert := fmt.Sprintf(`domains: %s
canary: %t
challenge:
  type: http-01
  http01: {listen: "%s:%d"}
deploy:
  fullchain: %s
  key: %s
  nginx: true
`, yamlList(c.domains(cs.name)), cs.canary, n.ip, env.pebble.HTTPPort, n.deployed(cs.name, "fullchain.pem"), n.deployed(cs.name, "privkey.pem"))
		if err := os.WriteFile(filepath.Join(n.dir, "domains.d", cs.name+".yaml"), []byte(cert), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (n *node) etcdTLSSetting() string {
	if n.etcdTLS == "" {
		return ""
	}
	return ", tls: " + n.etcdTLS
}

// useEtcd moves the scenario to another etcd, before any node starts:
// every node reaches it at e's endpoints with tls (a cluster.etcd.tls flow
// mapping, "" for none), and the test reads it through cli.
func (c *testCluster) useEtcd(e *harness.Etcd, cli *clientv3.Client, tls string) {
	c.t.Helper()
	c.cli = cli
	for _, n := range c.nodes {
		n.endpoints, n.etcdTLS = e.Endpoints, tls
		n.writeConfig()
	}
	c.startRev = c.revision()
}

// start runs `renewd run` for the node in the background.
func (n *node) start() {
	n.c.t.Helper()
	if n.running() {
		n.c.t.Fatalf("%s is running already", n.name)
	}
	n.runs++
	p, err := harness.StartProcess(n.logFile(n.runs), append([]string{"RENEWD_CONFIG=", "NOTIFY_SOCKET="}, n.env...), n.bin, "--config", n.config, "run")
	if err != nil {
		n.c.t.Fatal(err)
	}
	n.d = p
}

func (n *node) running() bool { return n.d != nil && !n.d.Exited() }

// stop ends the daemon with SIGTERM, as systemd does, and waits.
func (n *node) stop() {
	n.c.t.Helper()
	_ = n.d.Signal(syscall.SIGTERM)
	select {
	case <-n.d.Done():
	case <-time.After(60 * time.Second):
		n.c.t.Fatalf("%s did not stop within 60s of SIGTERM", n.name)
	}
	if err := n.d.Err(); err != nil {
		n.c.t.Errorf("%s exited with %v after SIGTERM", n.name, err)
	}
}

func (n *node) signal(sig syscall.Signal) {
	n.c.t.Helper()
	if err := n.d.Signal(sig); err != nil {
		n.c.t.Fatalf("%s: %v: %v", n.name, sig, err)
	}
}

// waitKilled waits for the daemon to die by SIGKILL (a crash point).
func (n *node) waitKilled(within time.Duration) {
	n.c.t.Helper()
	select {
	case <-n.d.Done():
	case <-time.After(within):
		n.c.t.Fatalf("%s was not killed at its crash point within %s", n.name, within)
	}
	var ee *exec.ExitError
	if err := n.d.Err(); !errors.As(err, &ee) || ee.ProcessState.String() != "signal: killed" {
		n.c.t.Fatalf("%s ended with %v, not by its crash point", n.name, err)
	}
}

// log is everything the node's daemons wrote.
func (n *node) log() string {
	var b strings.Builder
	for i := 1; i <= n.runs; i++ {
		data, _ := os.ReadFile(n.logFile(i))
		b.Write(data)
	}
	return b.String()
}

// waitLog waits until the node's current run logged s.
func (n *node) waitLog(s string, within time.Duration) {
	n.c.t.Helper()
	err := harness.WaitFor(fmt.Sprintf("%s logging %q", n.name, s), within, func() error {
		data, _ := os.ReadFile(n.logFile(n.runs))
		if !strings.Contains(string(data), s) {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		n.c.t.Fatal(err)
	}
}

// result is one CLI invocation.
type result = harness.Result

// cli runs the renewd CLI with the node's configuration, as an operator on
// that node would.
func (n *node) cli(args ...string) result {
	n.c.t.Helper()
	return runCLI(n.c.t, n.config, args...)
}

func runCLI(t *testing.T, config string, args ...string) result {
	t.Helper()
	return harness.MustRunRenewd(t, env.renewd, config, nil, 4*time.Minute, args...)
}

// cliAsync runs the CLI in the background; the result arrives on the channel.
func (n *node) cliAsync(args ...string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		res, err := harness.RunRenewd(env.renewd, n.config, nil, 4*time.Minute, args...)
		if err != nil {
			res.Code, res.Stderr = -1, err.Error()
		}
		ch <- res
	}()
	return ch
}

func (c *testCluster) await(ch <-chan result, within time.Duration) result {
	c.t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		c.t.Fatalf("renewd did not finish within %s", within)
		return result{}
	}
}

// servedSerial is the serial nginx on n serves for domain, after checking
// that the chain it sends is complete on its own (no AIA fetching) up to
// Pebble's root.
func (n *node) servedSerial(domain string) (string, error) {
	d := &tlsDialer{timeout: 5 * time.Second}
	certs, err := d.peer(n.addr(), domain)
	if err != nil {
		return "", err
	}
	roots, err := chain.LoadRoots([]string{env.pebble.RootFile})
	if err != nil {
		return "", err
	}
	if _, err := chain.Verify(certs, chain.Options{Roots: roots}); err != nil {
		return fmt.Sprintf("%x", certs[0].SerialNumber), fmt.Errorf("incomplete or invalid chain: %w", err)
	}
	return fmt.Sprintf("%x", certs[0].SerialNumber), nil
}

// mustServe asserts that n's nginx serves serial for cert, complete.
func (n *node) mustServe(cert, serial string) {
	n.c.t.Helper()
	for _, d := range n.c.domains(cert) {
		got, err := n.servedSerial(d)
		if err != nil || got != serial {
			n.c.t.Errorf("%s serves %s for %s (%v), want %s", n.name, got, d, err, serial)
		}
	}
}

// etcd reads, by the layout of internal/cluster/keys.go.

func (c *testCluster) revision() int64 {
	return etcdGet(c.t, c.cli, "/", clientv3.WithCountOnly()).Header.Revision
}

// leader is the node leading now, "" when none does.
func (c *testCluster) leader() string {
	resp := etcdGet(c.t, c.cli, c.prefix+"election/", clientv3.WithFirstCreate()...)
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// waitLeader waits until one of want leads, and returns it.
func (c *testCluster) waitLeader(within time.Duration, want ...string) string {
	c.t.Helper()
	var got string
	err := harness.WaitFor(fmt.Sprintf("leader in %v", want), within, func() error {
		got = c.leader()
		if !slices.Contains(want, got) {
			return fmt.Errorf("leader %q", got)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return got
}

// etcdTerm is the highest raft term the package's etcd members report: it
// grows with each election etcd holds for a leader of its own.
func (c *testCluster) etcdTerm() uint64 {
	c.t.Helper()
	var term uint64
	var errs []error
	for _, ep := range env.etcd.Endpoints {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.cli.Status(ctx, ep)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		term = max(term, st.RaftTerm)
	}
	if term == 0 {
		c.t.Fatalf("no etcd member told its raft term: %v", errors.Join(errs...))
	}
	return term
}

// waitStableLeader waits until the same node has led for stable while
// etcd held no election of its own: each such election renews every
// lease, a session the nodes gave up on included.
func (c *testCluster) waitStableLeader(within, stable time.Duration) string {
	c.t.Helper()
	var leader string
	var term uint64
	var since time.Time
	err := harness.WaitFor("a stable leader", within, func() error {
		now, nowTerm := c.leader(), c.etcdTerm()
		if now != leader || now == "" || nowTerm != term {
			leader, term, since = now, nowTerm, time.Now()
		}
		if leader == "" || time.Since(since) < stable {
			return fmt.Errorf("leader %q since %s (etcd's term %d)", leader, since.Format(time.StampMilli), term)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return leader
}

// waitCampaigns waits until want nodes campaign for the leadership.
func (c *testCluster) waitCampaigns(within time.Duration, want int64) {
	c.t.Helper()
	err := harness.WaitFor(fmt.Sprintf("%d campaigns", want), within, func() error {
		if got := c.count("election/"); got != want {
			return fmt.Errorf("%d campaigns", got)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// alive lists the nodes with a live membership key.
func (c *testCluster) alive() []string {
	resp := etcdGet(c.t, c.cli, c.prefix+"nodes/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	var out []string
	for _, kv := range resp.Kvs {
		if node, ok := strings.CutSuffix(strings.TrimPrefix(string(kv.Key), c.prefix+"nodes/"), "/alive"); ok {
			out = append(out, node)
		}
	}
	slices.Sort(out)
	return out
}

func (c *testCluster) waitAlive(within time.Duration, want ...string) {
	c.t.Helper()
	slices.Sort(want)
	err := harness.WaitFor(fmt.Sprintf("alive nodes %v", want), within, func() error {
		if got := c.alive(); !slices.Equal(got, want) {
			return fmt.Errorf("alive: %v", got)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *testCluster) live(cert string) string {
	resp := etcdGet(c.t, c.cli, c.prefix+"live/"+cert)
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// versions lists the committed versions of cert.
func (c *testCluster) versions(cert string) []string {
	pfx := c.prefix + "versions/" + cert + "/"
	resp := etcdGet(c.t, c.cli, pfx, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), pfx))
	}
	return out
}

// versionSerial is the serial of a committed version's leaf.
func (c *testCluster) versionSerial(cert, version string) string {
	c.t.Helper()
	resp := etcdGet(c.t, c.cli, c.prefix+"versions/"+cert+"/"+version)
	if len(resp.Kvs) == 0 {
		c.t.Fatalf("no version %s of %s in etcd", version, cert)
	}
	var doc struct {
		Cert string `json:"cert"`
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &doc); err != nil {
		c.t.Fatal(err)
	}
	certs, err := chain.ParsePEM([]byte(doc.Cert))
	if err != nil {
		c.t.Fatal(err)
	}
	return fmt.Sprintf("%x", certs[0].SerialNumber)
}

// verdict is a node's report, nodes/<node>/served/<name>.
type verdict struct {
	Version string `json:"version"`
	Attempt string `json:"attempt"`
	Serial  string `json:"serial"`
	Verdict string `json:"verdict"`
	Error   string `json:"error"`
}

func (c *testCluster) verdicts(cert string) map[string]verdict {
	resp := etcdGet(c.t, c.cli, c.prefix+"nodes/", clientv3.WithPrefix())
	out := map[string]verdict{}
	for _, kv := range resp.Kvs {
		node, rest, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), c.prefix+"nodes/"), "/")
		if rest != "served/"+cert {
			continue
		}
		var v verdict
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			c.t.Fatalf("%s: %v", kv.Key, err)
		}
		out[node] = v
	}
	return out
}

// record is the cluster's record of cert, records/<name>.
func (c *testCluster) record(cert string) map[string]any {
	c.t.Helper()
	resp := etcdGet(c.t, c.cli, c.prefix+"records/"+cert)
	if len(resp.Kvs) == 0 {
		c.t.Fatalf("no record of %s in etcd", cert)
	}
	var rec map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
		c.t.Fatal(err)
	}
	return rec
}

func (c *testCluster) count(sub string) int64 {
	return etcdGet(c.t, c.cli, c.prefix+sub, clientv3.WithPrefix(), clientv3.WithCountOnly()).Count
}

// keys lists the keys under the prefix's subs.
func (c *testCluster) keys(subs ...string) []string {
	var out []string
	for _, sub := range subs {
		for _, kv := range etcdGet(c.t, c.cli, c.prefix+sub, clientv3.WithPrefix(), clientv3.WithKeysOnly()).Kvs {
			out = append(out, strings.TrimPrefix(string(kv.Key), c.prefix))
		}
	}
	return out
}

// history replays every change under the prefix's sub since the scenario
// began (etcd keeps it until a compaction).
func (c *testCluster) history(sub string) []*clientv3.Event {
	c.t.Helper()
	now := c.revision()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wch := c.cli.Watch(ctx, c.prefix+sub, clientv3.WithPrefix(), clientv3.WithRev(c.startRev), clientv3.WithPrevKV())
	go func() { // a progress notice comes once the watch has sent all history
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = c.cli.RequestProgress(ctx)
			}
		}
	}()
	var evs []*clientv3.Event
	for resp := range wch {
		if err := resp.Err(); err != nil {
			c.t.Fatalf("history of %s: %v", sub, err)
		}
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision <= now {
				evs = append(evs, ev)
			}
		}
		if resp.Header.Revision >= now && (resp.IsProgressNotify() || len(resp.Events) > 0 && resp.Events[len(resp.Events)-1].Kv.ModRevision >= now) {
			return evs
		}
	}
	c.t.Fatalf("history of %s: the watch ended early", sub)
	return nil
}

// bootstrap starts the three daemons with n1 first, so n1 leads, and waits
// until every node serves the first version of every certificate. The CA
// reaches the domains at n1 for this first issuance: n2 and n3 may not run
// yet when n1 orders. It returns each certificate's serial.
func (c *testCluster) bootstrap() map[string]string {
	c.t.Helper()
	c.pointAt(c.nodes[0])
	c.nodes[0].start()
	c.waitLeader(30*time.Second, "n1")
	// n2 campaigns before n3, so n2 is next in line and n3 last.
	c.nodes[1].start()
	c.waitCampaigns(30*time.Second, 2)
	c.nodes[2].start()
	c.waitCampaigns(30*time.Second, 3)
	c.waitAlive(30*time.Second, "n1", "n2", "n3")
	serials := c.waitServing(converge, c.nodes...)
	if got := c.ca.orders(); got != len(c.certs) {
		c.t.Fatalf("the first issuance made %d orders for %d certificates", got, len(c.certs))
	}
	return serials
}

// waitServing waits until, for every certificate, each of nodes has
// reported the live version served with a complete chain and its nginx
// serves that version's serial with a complete chain. It returns each
// certificate's serial.
func (c *testCluster) waitServing(within time.Duration, nodes ...*node) map[string]string {
	c.t.Helper()
	serials := map[string]string{}
	err := harness.WaitFor("every node serving the live versions", within, func() error {
		for _, cs := range c.certs {
			v := c.live(cs.name)
			if v == "" {
				return fmt.Errorf("%s: no live version", cs.name)
			}
			serial := c.versionSerial(cs.name, v)
			vs := c.verdicts(cs.name)
			for _, n := range nodes {
				if got := vs[n.name]; got.Version != v || got.Verdict != "complete" {
					return fmt.Errorf("%s: %s reports %+v, want %s complete", cs.name, n.name, got, v)
				}
				for _, d := range c.domains(cs.name) {
					if got, err := n.servedSerial(d); err != nil || got != serial {
						return fmt.Errorf("%s: %s nginx serves %s (%v), want %s", cs.name, n.name, got, err, serial)
					}
				}
			}
			serials[cs.name] = serial
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return serials
}

// monitor watches what every node's nginx serves for cert, a few times a
// second, as a client fleet would: each node's distinct consecutive
// observations (a serial, or what was wrong).
type monitor struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	seen map[string][]string
}

func (c *testCluster) monitor(cert string) *monitor {
	m := &monitor{stop: make(chan struct{}), done: make(chan struct{}), seen: map[string][]string{}}
	domain := c.domains(cert)[0]
	go func() {
		defer close(m.done)
		for {
			for _, n := range c.nodes {
				obs, err := n.servedSerial(domain)
				if err != nil {
					obs = "error: " + err.Error()
				}
				m.mu.Lock()
				if s := m.seen[n.name]; len(s) == 0 || s[len(s)-1] != obs {
					m.seen[n.name] = append(s, obs)
				}
				m.mu.Unlock()
			}
			select {
			case <-m.stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	c.t.Cleanup(func() { m.finish() })
	return m
}

// finish stops the monitor and returns what it saw.
func (m *monitor) finish() map[string][]string {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen
}

// checkSwitch asserts that every node served old, then new, and nothing
// else (no other certificate, no failed handshake, no incomplete chain, no
// going back).
func (c *testCluster) checkSwitch(seen map[string][]string, old, new string) {
	c.t.Helper()
	for _, n := range c.nodes {
		s := seen[n.name]
		if !slices.Equal(s, []string{old, new}) {
			c.t.Errorf("%s served %v; want the old %s until the switch, then the new %s", n.name, s, old, new)
		}
	}
}

// clusterStatus is `renewd cluster status --json` on n.
type overview struct {
	Leader string `json:"leader"`
	Nodes  []struct {
		Name  string `json:"name"`
		Alive bool   `json:"alive"`
	} `json:"nodes"`
	Certificates []struct {
		Name    string             `json:"name"`
		Version string             `json:"version"`
		Served  map[string]verdict `json:"served"`
	} `json:"certificates"`
}

func (n *node) clusterStatus() overview {
	n.c.t.Helper()
	res := n.cli("cluster", "status", "--json")
	if res.Code != 0 {
		n.c.t.Fatalf("cluster status on %s: %s", n.name, res)
	}
	var o overview
	if err := json.Unmarshal([]byte(res.Stdout), &o); err != nil {
		n.c.t.Fatalf("cluster status --json: %v\n%s", err, res.Stdout)
	}
	return o
}

// archivedSerials lists the serials of every version in n's own storage.
func (n *node) archivedSerials(cert string) []string {
	n.c.t.Helper()
	files, _ := filepath.Glob(filepath.Join(n.storage, "archive", cert, "*", "cert.pem"))
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			n.c.t.Fatal(err)
		}
		certs, err := chain.ParsePEM(data)
		if err != nil {
			n.c.t.Fatalf("%s: %v", f, err)
		}
		out = append(out, fmt.Sprintf("%x", certs[0].SerialNumber))
	}
	return out
}

// liveVersion is the version n's own live/<cert> link points at.
func (n *node) liveVersion(cert string) (string, error) {
	target, err := os.Readlink(filepath.Join(n.storage, "live", cert))
	if err != nil {
		return "", err
	}
	return filepath.Base(target), nil
}

// waitFile waits for a file to appear (a crash point's pause file).
func waitFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	err := harness.WaitFor("file "+path, within, func() error {
		_, err := os.Stat(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tlsDialer fetches a server's certificates as sent, trusting nothing: the
// chain is judged separately.
type tlsDialer struct{ timeout time.Duration }

func (d *tlsDialer) peer(addr, sni string) ([]*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: d.timeout}, "tcp", addr,
		&tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // judged by chain.Verify
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates, nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// servedFileSerial is the serial of the first certificate in a PEM file's content.
func servedFileSerial(t *testing.T, pemData string) string {
	t.Helper()
	certs, err := chain.ParsePEM([]byte(pemData))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", certs[0].SerialNumber)
}
