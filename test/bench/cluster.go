//go:build bench

package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/testpki"
	"github.com/renewd/renewd/test/harness"
)

// The cluster run's nodes: three `renewd run` on their own loopback
// addresses, each with its own nginx, storage and domains.d.
var clusterIPs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

// clusterPoll is how often the run looks again at what the nodes serve.
const clusterPoll = 100 * time.Millisecond

// ClusterRun is a forced renewal of N certificates on a three-node
// cluster, asked on a node that does not lead.
type ClusterRun struct {
	N          int    `json:"n"`
	Date       string `json:"date"`
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
	Config     string `json:"config"`
	Leader     string `json:"leader"`
	AskedOn    string `json:"asked_on"`
	// Issue is the first issuance (untimed): from the first daemon's start
	// until every node serves every certificate.
	IssueS      float64 `json:"issue_wall_s"`
	IssueOrders int     `json:"issue_orders"`
	// Renew is `renewd renew --now` on AskedOn: its wall time is the
	// forced renewal's, as the operator sees it.
	Renew    Usage  `json:"renew_cli"`
	Summary  string `json:"renew_summary"`
	Orders   int    `json:"orders"`   // new orders Pebble created during the renewal
	Requests int    `json:"requests"` // to the CA during the renewal
	// ServedS is from the start of `renew --now` until the TLS handshake
	// that showed the last (node, certificate) with its new chain;
	// FirstServedS the first. NodeServedS is each node's last.
	ServedS      float64            `json:"served_everywhere_s"`
	FirstServedS float64            `json:"first_served_s"`
	NodeServedS  map[string]float64 `json:"node_served_s"`
	Served       int                `json:"served"` // (node, certificate) pairs serving the new chain at the end
	Renewed      int                `json:"renewed"`
	Handshakes   int                `json:"handshakes"`
	// DaemonCPUS is each node's `renewd run` CPU from the start of the
	// renewal until `renew --now` returned (and every node served the new
	// chains, or the watch gave up); PebbleCPUS Pebble's.
	DaemonCPUS map[string]float64 `json:"daemon_cpu_s"`
	PebbleCPUS float64            `json:"pebble_cpu_s"`
	Error      string             `json:"error,omitempty"`
}

// benchNode is one node of the cluster run.
type benchNode struct {
	name, ip, dir, config string
	ng                    *harness.Nginx
	fullchain             map[string]string // by domain: the file the node's nginx serves
	d                     *harness.Process
}

func (n *benchNode) addr(port int) string { return fmt.Sprintf("%s:%d", n.ip, port) }

// clusterRun starts a 3-member etcd and three renewd nodes, issues n
// certificates through n1 (untimed), then asks n2 for `renew --now` while
// the CA reaches the names at all three nodes in turn, as a load balancer
// would send it.
func clusterRun(o options, c *ca, n int) *ClusterRun {
	r := &ClusterRun{N: n, Date: time.Now().UTC().Format(time.RFC3339), LoadBefore: loadavg(),
		NodeServedS: map[string]float64{}, DaemonCPUS: map[string]float64{}}
	defer func() { r.LoadAfter = loadavg() }()
	work := mkdir(o.work, fmt.Sprintf("cluster-%d", n))
	tb := &benchTB{work: work}
	logf("cluster N=%d: starting etcd (3 members) and three nodes", n)
	etcd := harness.StartEtcd(tb, filepath.Join(o.bin, "etcdnode"))
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		fatalf("%v", err)
	}
	keyFile := filepath.Join(work, "cluster.key")
	mustWrite(keyFile, key, 0o600)
	port, err := harness.FreePortOn(clusterIPs[1:]...)
	if err != nil {
		fatalf("%v", err)
	}
	p := c.proxy(harness.ProxyOptions{})
	domains := domainsFor("k", n)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("c%04d", i+1)
	}
	phCert, phKey := placeholder()
	prefix := fmt.Sprintf("/renewd-bench/%d/", n)
	var nodes []*benchNode
	for i, ip := range clusterIPs {
		nd := &benchNode{name: fmt.Sprintf("n%d", i+1), ip: ip, dir: mkdir(work, fmt.Sprintf("n%d", i+1)), fullchain: map[string]string{}}
		nd.config = filepath.Join(nd.dir, "renewd.yaml")
		nd.ng = harness.NewNginx(tb)
		nd.ng.Extra = "  server_names_hash_bucket_size 128;"
		for j, name := range names {
			full, keyPath := filepath.Join(nd.dir, "deploy", name, "fullchain.pem"), filepath.Join(nd.dir, "deploy", name, "privkey.pem")
			nd.fullchain[domains[j]] = full
			mustWrite(full, phCert, 0o644)
			mustWrite(keyPath, phKey, 0o600)
			nd.ng.Servers = append(nd.ng.Servers, harness.TLSServerAt(nd.addr(port), []string{domains[j]}, full, keyPath))
			mustWrite(filepath.Join(nd.dir, "domains.d", name+".yaml"), []byte(fmt.Sprintf(`domains: [%q]
challenge:
  type: http-01
  http01: {listen: "%s:%d"}
deploy:
  fullchain: %s
  key: %s
  nginx: true
`, domains[j], ip, c.httpPort, full, keyPath)), 0o644)
		}
		nd.ng.StartAt(nd.addr(port))
		mustWrite(nd.config, []byte(fmt.Sprintf(`storage: %s
acme:
  directory: %s
  email: bench-cluster@example.com
  ca_certificates: [%s]
trust:
  extra_roots: [%s]
nginx:
  test: %s
  reload: %s
  verify: {address: %q}
cluster:
  node: %s
  etcd: {endpoints: %s}
  prefix: %s
  key_file: %s
`, filepath.Join(nd.dir, "storage"), p.DirURL, c.tlsCA, c.rootFile, yamlList(nd.ng.Argv("-t")), yamlList(nd.ng.Argv("-s", "reload")),
			nd.addr(port), nd.name, yamlList(etcd.Endpoints), prefix, keyFile)), 0o644)
		nodes = append(nodes, nd)
	}
	r.Config = fmt.Sprintf("3 etcd members (etcdnode, etcd %s); every node: renewd's defaults plus cluster {node, etcd.endpoints, prefix, key_file}, nginx {test, reload, verify.address}; every certificate: http01 {listen: <node address>:<httpPort>}, deploy {fullchain, key, nginx: true}, ec256; one nginx per node with one TLS server block per certificate", etcdVersion(o))
	roots, err := chain.LoadRoots([]string{c.rootFile})
	if err != nil {
		fatalf("%v", err)
	}
	w := &servedWatch{nodes: nodes, port: port, domains: domains, roots: roots}

	// First issuance, untimed: the CA reaches every name at n1, which
	// starts first and leads; n2 and n3 join and deploy what it issued.
	if err := c.chall.PointAt(nodes[0].ip, domains...); err != nil {
		fatalf("%v", err)
	}
	start := time.Now()
	nodes[0].start(o.bin)
	waitLeader(nodes[0], o.bin, "n1")
	nodes[1].start(o.bin)
	nodes[2].start(o.bin)
	waitAlive(nodes[0], o.bin, 3)
	old, err := w.waitSame(30 * time.Minute)
	if err == nil {
		err = waitAtRest(nodes[0], 30*time.Minute)
	}
	r.IssueS, r.IssueOrders = time.Since(start).Seconds(), p.Stats().Orders
	logf("  issued: every node serves all %d certificates, and the leader's passes are over, after %.1f s; %d orders", n, r.IssueS, r.IssueOrders)
	if err != nil {
		r.Error = fmt.Sprintf("first issuance: %v", err)
		return r
	}
	st, err := nodes[0].status(o.bin)
	if err != nil {
		fatalf("cluster status: %v", err)
	}
	r.Leader = st.Leader
	asked := nodes[1]
	if asked.name == r.Leader {
		asked = nodes[2]
	}
	r.AskedOn = asked.name

	// The renewal: the CA reaches name i at node i mod 3, so two thirds of
	// the validations go through the shared tokens of a node that does not
	// lead.
	for i, d := range domains {
		if err := c.chall.PointAt(nodes[i%len(nodes)].ip, d); err != nil {
			fatalf("%v", err)
		}
	}
	logf("  renewing all %d: renew --now on %s (leader %s)", n, asked.name, r.Leader)
	s0 := p.Stats()
	cpu0 := map[string]float64{}
	for _, nd := range nodes {
		cpu0[nd.name] = procCPU(nd.d.Cmd.Process.Pid)
	}
	pebble0 := procCPU(c.pebblePid())
	w.handshakes = 0
	start = time.Now()
	type cliDone struct {
		u   Usage
		err error
	}
	done, failed := make(chan cliDone, 1), make(chan struct{})
	logFile := filepath.Join(asked.dir, "renew-now.log")
	go func() {
		u, err := run(logFile, []string{"RENEWD_CONFIG="}, 60*time.Minute, filepath.Join(o.bin, after),
			"--config", asked.config, "renew", "--now", "--wait", "60m")
		if err != nil {
			close(failed)
		}
		done <- cliDone{u, err}
	}()
	firsts, err := w.waitNew(start, old, failed, 60*time.Minute)
	res := <-done
	r.Renew = res.u
	for _, nd := range nodes {
		r.DaemonCPUS[nd.name] = procCPU(nd.d.Cmd.Process.Pid) - cpu0[nd.name]
	}
	r.PebbleCPUS = procCPU(c.pebblePid()) - pebble0
	s1 := p.Stats()
	r.Orders, r.Requests, r.Handshakes = s1.Orders-s0.Orders, s1.Requests-s0.Requests, w.handshakes
	out := readFile(logFile)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " renewed, ") {
			r.Summary = strings.TrimSpace(line)
		}
	}
	r.FirstServedS = -1
	for _, f := range firsts {
		s := f.at.Sub(start).Seconds()
		r.ServedS = max(r.ServedS, s)
		if r.FirstServedS < 0 || s < r.FirstServedS {
			r.FirstServedS = s
		}
		r.NodeServedS[f.node] = max(r.NodeServedS[f.node], s)
	}
	r.FirstServedS = max(r.FirstServedS, 0)
	final, ferr := w.final(old)
	r.Served, r.Renewed = final.served, final.renewed
	var problems []string
	if res.err != nil {
		problems = append(problems, res.err.Error())
	} else if !strings.Contains(out, "run by the leader, "+r.Leader+":") || !strings.Contains(out, fmt.Sprintf("%d renewed, 0 failed", n)) {
		problems = append(problems, fmt.Sprintf("renew --now on %s printed %q", asked.name, r.Summary))
	}
	if err != nil {
		problems = append(problems, err.Error())
	}
	if ferr != nil {
		problems = append(problems, ferr.Error())
	}
	if r.Orders != n {
		problems = append(problems, fmt.Sprintf("%d orders at the CA for %d certificates", r.Orders, n))
	}
	r.Error = strings.Join(problems, "; ")
	logf("  cluster: renew --now %.2f s (cpu %.2f s), %d orders, %d requests; every node serves every new chain after %.2f s (first %.2f s; %v); %d/%d renewed; daemons cpu %v, pebble cpu %.2f s, %d handshakes %s",
		r.Renew.WallS, r.Renew.CPUS, r.Orders, r.Requests, r.ServedS, r.FirstServedS, r.NodeServedS, r.Renewed, n, r.DaemonCPUS, r.PebbleCPUS, r.Handshakes, r.Error)
	return r
}

// start runs the node's `renewd run`; it is ended with SIGTERM at exit.
func (n *benchNode) start(bin string) {
	var err error
	n.d, err = harness.StartProcess(filepath.Join(n.dir, "run.log"), []string{"RENEWD_CONFIG=", "NOTIFY_SOCKET="},
		filepath.Join(bin, after), "--config", n.config, "run")
	if err != nil {
		fatalf("%s: %v", n.name, err)
	}
	atExit(func() { n.d.Terminate(60 * time.Second) })
}

// atRestQuiet is how long the leader's log must stay unchanged, after its
// first pass, for the cluster to count as at rest.
const atRestQuiet = 3 * time.Second

// waitAtRest waits until leader's startup pass is done and its log has
// not grown for atRestQuiet: a renewal asked earlier would wait for the
// startup pass (its deploys are still being proven when every node
// already serves the new chains), and becoming the leader asks for one
// more pass, which runs right after it.
func waitAtRest(leader *benchNode, within time.Duration) error {
	logFile := filepath.Join(leader.dir, "run.log")
	size, since := int64(-1), time.Now()
	return harness.WaitFor("the leader at rest", within, func() error {
		if !strings.Contains(readFile(logFile), "renewal pass done") {
			return errors.New("startup pass not done")
		}
		if now := fileSize(logFile); now != size {
			size, since = now, time.Now()
		}
		if time.Since(since) < atRestQuiet {
			return errors.New("still logging")
		}
		return nil
	})
}

// clusterStatus is what the run reads of `renewd cluster status --json`.
type clusterStatus struct {
	Leader string `json:"leader"`
	Nodes  []struct {
		Name  string `json:"name"`
		Alive bool   `json:"alive"`
	} `json:"nodes"`
}

func (n *benchNode) status(bin string) (clusterStatus, error) {
	var st clusterStatus
	logFile := filepath.Join(n.dir, "cluster-status.json")
	_ = os.Remove(logFile)
	f := openLog(logFile)
	errf := openLog(filepath.Join(n.dir, "cluster-status.log"))
	_, err := runFiles(f, errf, []string{"RENEWD_CONFIG="}, time.Minute, filepath.Join(bin, after), "--config", n.config, "cluster", "status", "--json")
	f.Close()
	errf.Close()
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(readFile(logFile)), &st)
}

// waitLeader waits until n's view of the cluster names leader.
func waitLeader(n *benchNode, bin, leader string) {
	err := harness.WaitFor("leader "+leader, 2*time.Minute, func() error {
		st, err := n.status(bin)
		if err != nil {
			return err
		}
		if st.Leader != leader {
			return fmt.Errorf("leader %q", st.Leader)
		}
		return nil
	})
	if err != nil {
		fatalf("cluster: %v", err)
	}
}

// waitAlive waits until n sees want nodes alive.
func waitAlive(n *benchNode, bin string, want int) {
	err := harness.WaitFor(fmt.Sprintf("%d nodes alive", want), 2*time.Minute, func() error {
		st, err := n.status(bin)
		if err != nil {
			return err
		}
		alive := 0
		for _, no := range st.Nodes {
			if no.Alive {
				alive++
			}
		}
		if alive != want {
			return fmt.Errorf("%d alive", alive)
		}
		return nil
	})
	if err != nil {
		fatalf("cluster: %v", err)
	}
}

// servedWatch looks at what every node's nginx serves for every name,
// through TLS handshakes, as clients would.
type servedWatch struct {
	nodes      []*benchNode
	port       int
	domains    []string
	roots      *x509.CertPool
	handshakes int
}

// served is the leaf serial node serves for domain; err when the
// handshake fails or the chain it sends is not complete on its own up to
// Pebble's root.
func (w *servedWatch) served(n *benchNode, domain string) (string, error) {
	w.handshakes++
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.addr(w.port),
		&tls.Config{ServerName: domain, InsecureSkipVerify: true}) //nolint:gosec // judged by chain.Verify
	if err != nil {
		return "", err
	}
	certs := conn.ConnectionState().PeerCertificates
	conn.Close()
	serial := certs[0].SerialNumber.Text(16)
	if _, err := chain.Verify(certs, chain.Options{Roots: w.roots}); err != nil {
		return serial, fmt.Errorf("incomplete or invalid chain: %w", err)
	}
	return serial, nil
}

// waitSame waits until every node serves, for every name, a complete
// chain with the same leaf on every node, and returns each name's serial.
func (w *servedWatch) waitSame(within time.Duration) (map[string]string, error) {
	out := map[string]string{}
	err := harness.WaitFor("every node serving every certificate", within, func() error {
		for _, d := range w.domains {
			if _, ok := out[d]; ok {
				continue
			}
			var first string
			for _, n := range w.nodes {
				s, err := w.served(n, d)
				if err != nil {
					return fmt.Errorf("%s on %s: %v", d, n.name, err)
				}
				if first == "" {
					first = s
				} else if s != first {
					return fmt.Errorf("%s: %s serves %s, %s %s", d, w.nodes[0].name, first, n.name, s)
				}
			}
			out[d] = first
		}
		return nil
	})
	return out, err
}

// firstNew is when a handshake first showed a node serving a name's new
// chain.
type firstNew struct {
	node, domain string
	at           time.Time
}

// waitNew polls, every clusterPoll, each (node, name) that does not serve
// a new complete chain yet, until none is left, failed is closed (and a
// last round is done), or within passes. A name's chain is new when its
// leaf's serial is not old's. The handshake is made only once the node's
// deployed file holds a new leaf (nginx cannot serve it before): hundreds
// of handshakes a round would take the CPU the nodes need.
func (w *servedWatch) waitNew(start time.Time, old map[string]string, failed <-chan struct{}, within time.Duration) ([]firstNew, error) {
	type pair struct {
		n *benchNode
		d string
	}
	var pending []pair
	for _, n := range w.nodes {
		for _, d := range w.domains {
			pending = append(pending, pair{n, d})
		}
	}
	var out []firstNew
	deadline := start.Add(within)
	stop := false
	for {
		pending = slices.DeleteFunc(pending, func(p pair) bool {
			if s, err := leafSerial(p.n.fullchain[p.d]); err != nil || s == old[p.d] {
				return false
			}
			s, err := w.served(p.n, p.d)
			if err != nil || s == old[p.d] {
				return false
			}
			out = append(out, firstNew{p.n.name, p.d, time.Now()})
			return true
		})
		if len(pending) == 0 {
			return out, nil
		}
		if stop || time.Now().After(deadline) {
			return out, fmt.Errorf("%d (node, certificate) pairs still without their new chain, e.g. %s on %s", len(pending), pending[0].d, pending[0].n.name)
		}
		select {
		case <-failed:
			stop = true
		case <-time.After(clusterPoll):
		}
	}
}

// finalCheck is the last look, once the renewal is over.
type finalCheck struct{ served, renewed int }

// final checks every (node, name) once more: a new complete chain, the
// same leaf on every node.
func (w *servedWatch) final(old map[string]string) (finalCheck, error) {
	var fc finalCheck
	var errs []error
	for _, d := range w.domains {
		var serials []string
		for _, n := range w.nodes {
			s, err := w.served(n, d)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s on %s: %w", d, n.name, err))
			case s == old[d]:
				errs = append(errs, fmt.Errorf("%s on %s: still the old %s", d, n.name, s))
			default:
				fc.served++
				serials = append(serials, s)
			}
		}
		if len(serials) == len(w.nodes) && len(slices.Compact(slices.Clone(serials))) == 1 {
			fc.renewed++
		} else if len(serials) == len(w.nodes) {
			errs = append(errs, fmt.Errorf("%s: the nodes serve different leaves %v", d, serials))
		}
	}
	if len(errs) > 3 {
		errs = append(errs[:3], fmt.Errorf("and %d more", len(errs)-3))
	}
	return fc, errors.Join(errs...)
}

// placeholder is a self-signed certificate and its key, as a fresh server
// has before its first real one, so that nginx can start.
func placeholder() (certPEM, keyPEM []byte) {
	c := testpki.NewPanicking(time.Now()).Placeholder()
	return testpki.PEM(c), c.KeyPEM()
}

func yamlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// etcdVersion is the etcd server version etcdnode was built with.
func etcdVersion(o options) string {
	bi, err := buildinfo.ReadFile(filepath.Join(o.bin, "etcdnode"))
	if err != nil {
		return "?"
	}
	for _, d := range bi.Deps {
		if d.Path == "go.etcd.io/etcd/server/v3" {
			return d.Version
		}
	}
	return "?"
}
