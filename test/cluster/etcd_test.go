package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/testpki"
)

// etcdMember is one etcdnode process: a real etcd member with its own data
// directory, on its own client and peer ports.
type etcdMember struct {
	name, dir      string
	client, peer   string // URLs
	initialCluster string
	proc           *process
	starts         int
	args           []string // more flags: TLS
}

// etcdCluster is the package's 3-member etcd.
type etcdCluster struct{ members []*etcdMember }

func startEtcd(dir string) (*etcdCluster, error) { return startEtcdMembers(dir, 3, "http", nil) }

// startEtcdMembers starts a new etcd cluster of n members whose client
// URLs have scheme, each run with args.
func startEtcdMembers(dir string, n int, scheme string, args []string) (*etcdCluster, error) {
	c := &etcdCluster{}
	var initial []string
	for i := 1; i <= n; i++ {
		cp, err := freePort()
		if err != nil {
			return nil, err
		}
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &etcdMember{name: fmt.Sprintf("m%d", i), dir: filepath.Join(dir, fmt.Sprintf("m%d", i)),
			client: fmt.Sprintf("%s://127.0.0.1:%d", scheme, cp), peer: fmt.Sprintf("http://127.0.0.1:%d", pp), args: args}
		initial = append(initial, m.name+"="+m.peer)
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		m.initialCluster = strings.Join(initial, ",")
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			return nil, err
		}
	}
	// A new cluster is ready only once a majority runs: start all, then wait.
	if err := c.start(c.members...); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// start runs the members (again: a restarted member keeps its data
// directory and rejoins) and waits until each says it is ready.
func (c *etcdCluster) start(ms ...*etcdMember) error {
	for _, m := range ms {
		m.starts++
		state := "new"
		if m.starts > 1 {
			state = "existing"
		}
		var err error
		args := append([]string{"-name", m.name, "-data-dir", filepath.Join(m.dir, "data"), "-client", m.client, "-peer", m.peer,
			"-initial-cluster", m.initialCluster, "-state", state}, m.args...)
		m.proc, err = startProcess(filepath.Join(filepath.Dir(m.dir), m.name+".log"), nil, env.etcdnode, args...)
		if err != nil {
			return err
		}
	}
	for _, m := range ms {
		want := fmt.Sprintf("ready %s %s", m.name, m.client)
		err := waitFor("etcd member "+m.name, 90*time.Second, func() error {
			if m.proc.exited() {
				return fmt.Errorf("exited: %v", m.proc.err)
			}
			if strings.Count(m.proc.output(), want) < m.starts {
				return errors.New("not ready")
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w\n%s", err, m.proc.tail())
		}
	}
	return nil
}

// stopMembers ends members with SIGTERM, as a service manager does, and
// waits for them.
func (c *etcdCluster) stopMembers(ms ...*etcdMember) {
	for _, m := range ms {
		if m.proc != nil && !m.proc.exited() {
			_ = m.proc.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, m := range ms {
		if m.proc == nil {
			continue
		}
		select {
		case <-m.proc.done:
		case <-time.After(30 * time.Second):
			m.proc.stop()
		}
	}
}

func (c *etcdCluster) stop() { c.stopMembers(c.members...) }

func (c *etcdCluster) endpoints() []string {
	var out []string
	for _, m := range c.members {
		out = append(out, m.client)
	}
	return out
}

// client is the test's own view of etcd, as an operator's etcdctl.
func etcdClient(t *testing.T) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: env.etcd.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// etcdPKI is what a TLS etcd and its clients use, as files: the CA of
// etcd's server certificate, the CA etcd trusts for client certificates,
// and a client certificate it accepts.
type etcdPKI struct {
	dir                   string
	b                     *testpki.Builder
	serverCA, clientCA    *testpki.Cert
	serverCAFile          string
	clientCAFile          string
	clientCert, clientKey string
}

// startEtcdTLS starts a one-member etcd whose client URL is https and
// which requires a client certificate signed by its client CA, as
// docs/cluster.md advises; it stops with the test.
func startEtcdTLS(t *testing.T) (*etcdCluster, *etcdPKI) {
	t.Helper()
	dir := t.TempDir()
	p := &etcdPKI{dir: dir, b: testpki.New(t, time.Now())}
	p.serverCA, p.clientCA = p.b.Root(testpki.CN("etcd server CA")), p.b.Root(testpki.CN("etcd client CA"))
	server := p.b.Issue(p.serverCA, testpki.IPs(testpki.IP("127.0.0.1")))
	p.serverCAFile, p.clientCAFile = p.write(t, "server-ca.pem", testpki.PEM(p.serverCA)), p.write(t, "client-ca.pem", testpki.PEM(p.clientCA))
	serverCert, serverKey := p.write(t, "server.pem", testpki.PEM(server)), p.write(t, "server-key.pem", server.KeyPEM())
	p.clientCert, p.clientKey = p.issueClient(t, p.clientCA, "client")
	e, err := startEtcdMembers(filepath.Join(dir, "etcd.d"), 1, "https",
		[]string{"-cert-file", serverCert, "-key-file", serverKey, "-trusted-ca-file", p.clientCAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	return e, p
}

func (p *etcdPKI) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	f := filepath.Join(p.dir, name)
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// issueClient writes a client certificate signed by ca, and its key.
func (p *etcdPKI) issueClient(t *testing.T, ca *testpki.Cert, name string) (cert, key string) {
	t.Helper()
	c := p.b.Issue(ca, testpki.Names(name), testpki.ExtKeyUsage(x509.ExtKeyUsageClientAuth))
	return p.write(t, name+".pem", testpki.PEM(c)), p.write(t, name+"-key.pem", c.KeyPEM())
}

// client is the test's own TLS client of e, with p's client certificate.
func (e *etcdCluster) client(t *testing.T, p *etcdPKI) *clientv3.Client {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{RootCAs: testpki.Pool(p.serverCA), Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// tcpProxy forwards a node's connections to one etcd member; cut closes
// every connection and refuses new ones until restore: a network
// partition between that node and etcd, while the node's process runs on.
type tcpProxy struct {
	addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut { // cut while dialling
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// setCut cuts (true) or restores (false) the link.
func (p *tcpProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// etcd reads of the layout in internal/cluster/keys.go, as an operator
// would read them with etcdctl.

func etcdGet(t *testing.T, cli *clientv3.Client, key string, opts ...clientv3.OpOption) *clientv3.GetResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key, opts...)
	if err != nil {
		t.Fatalf("etcd get %s: %v", key, err)
	}
	return resp
}
