package harness

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Etcd is an etcd cluster on loopback, each member an etcdnode process
// (test/cluster/etcdnode: etcd's own server, the version in go.mod) with
// its own data directory, client and peer ports.
type Etcd struct {
	// Endpoints are the members' client URLs, for renewd's
	// cluster.etcd.endpoints.
	Endpoints []string
	Members   []*EtcdMember
	bin       string
}

// EtcdMember is one member. Proc is its current run: Stop ends it, Start
// runs it again with its data directory, and it rejoins.
type EtcdMember struct {
	Name   string
	Client string // client URL
	Peer   string // peer URL
	Proc   *Process
	dir    string
	log    string
	args   []string
	starts int
}

// EtcdOptions shape a cluster; the zero value is three members over
// plain HTTP.
type EtcdOptions struct {
	// Members is how many; 0 means 3.
	Members int
	// CertFile and KeyFile, when set, are the members' server certificate
	// and key: their client URLs are https.
	CertFile, KeyFile string
	// TrustedCAFile, when set, makes the members require a client
	// certificate that CA signed.
	TrustedCAFile string
}

// StartEtcd starts three members of a new cluster with bin (the built
// etcdnode), their data and logs in a new directory of t's, and waits
// until each says it is ready. They are stopped (SIGTERM, then SIGKILL)
// when t ends.
func StartEtcd(t TB, bin string) *Etcd { return StartEtcdWith(t, bin, EtcdOptions{}) }

// StartEtcdWith is StartEtcd with o's members and TLS.
func StartEtcdWith(t TB, bin string, o EtcdOptions) *Etcd {
	t.Helper()
	n := o.Members
	if n == 0 {
		n = 3
	}
	scheme := "http"
	var args []string
	if o.CertFile != "" {
		scheme = "https"
		args = append(args, "-cert-file", o.CertFile, "-key-file", o.KeyFile)
	}
	if o.TrustedCAFile != "" {
		args = append(args, "-trusted-ca-file", o.TrustedCAFile)
	}
	dir := t.TempDir()
	e := &Etcd{bin: bin}
	var initial []string
	for i := 1; i <= n; i++ {
		m := &EtcdMember{Name: fmt.Sprintf("m%d", i),
			Client: fmt.Sprintf("%s://127.0.0.1:%d", scheme, MustFreePort(t)), Peer: fmt.Sprintf("http://127.0.0.1:%d", MustFreePort(t))}
		m.dir, m.log = filepath.Join(dir, m.Name), filepath.Join(dir, m.Name+".log")
		e.Members, e.Endpoints = append(e.Members, m), append(e.Endpoints, m.Client)
		initial = append(initial, m.Name+"="+m.Peer)
	}
	for _, m := range e.Members {
		m.args = append([]string{"-name", m.Name, "-data-dir", m.dir, "-client", m.Client, "-peer", m.Peer,
			"-initial-cluster", strings.Join(initial, ",")}, args...)
	}
	t.Cleanup(func() { e.Stop(e.Members...) })
	// A new cluster is ready only once a majority runs: Start runs all,
	// then waits.
	if err := e.Start(e.Members...); err != nil {
		t.Fatalf("%v", err)
	}
	return e
}

// Start runs members (again: a member started before keeps its data
// directory and rejoins) and waits until each says it is ready.
func (e *Etcd) Start(ms ...*EtcdMember) error {
	for _, m := range ms {
		m.starts++
		state := "new"
		if m.starts > 1 {
			state = "existing"
		}
		p, err := StartProcess(m.log, nil, e.bin, append(m.args, "-state", state)...)
		if err != nil {
			return fmt.Errorf("etcd member %s: %w", m.Name, err)
		}
		m.Proc = p
	}
	for _, m := range ms {
		// The log is appended to: this run is ready when it holds as
		// many ready lines as there were starts.
		ready := fmt.Sprintf("ready %s %s", m.Name, m.Client)
		err := WaitFor("etcd member "+m.Name, 90*time.Second, func() error {
			if m.Proc.Exited() {
				return fmt.Errorf("exited: %v", m.Proc.Err())
			}
			if strings.Count(m.Proc.Output(), ready) < m.starts {
				return fmt.Errorf("not ready")
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w\n%s", err, m.Proc.Tail())
		}
	}
	return nil
}

// Stop ends members with SIGTERM, as a service manager does, and waits
// for them (SIGKILL after 30 s), all at once. A member that is not
// running is left alone.
func (e *Etcd) Stop(ms ...*EtcdMember) {
	for _, m := range ms {
		if m.Proc != nil && !m.Proc.Exited() {
			_ = m.Proc.Signal(syscall.SIGTERM)
		}
	}
	for _, m := range ms {
		if m.Proc != nil {
			m.Proc.Terminate(30 * time.Second)
		}
	}
}
