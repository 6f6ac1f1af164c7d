package cluster

import (
	"context"
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
)

// etcdMember is one etcdnode process: a real etcd member with its own data
// directory, on its own client and peer ports.
type etcdMember struct {
	name, dir      string
	client, peer   string // URLs
	initialCluster string
	proc           *process
	starts         int
}

// etcdCluster is the package's 3-member etcd.
type etcdCluster struct{ members []*etcdMember }

func startEtcd(dir string) (*etcdCluster, error) {
	c := &etcdCluster{}
	var initial []string
	for i := 1; i <= 3; i++ {
		cp, err := freePort()
		if err != nil {
			return nil, err
		}
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		m := &etcdMember{name: fmt.Sprintf("m%d", i), dir: filepath.Join(dir, fmt.Sprintf("m%d", i)),
			client: fmt.Sprintf("http://127.0.0.1:%d", cp), peer: fmt.Sprintf("http://127.0.0.1:%d", pp)}
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
		m.proc, err = startProcess(filepath.Join(filepath.Dir(m.dir), m.name+".log"), nil, env.etcdnode,
			"-name", m.name, "-data-dir", filepath.Join(m.dir, "data"), "-client", m.client, "-peer", m.peer,
			"-initial-cluster", m.initialCluster, "-state", state)
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
