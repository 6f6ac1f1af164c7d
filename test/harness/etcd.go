package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Etcd is a 3-member etcd cluster on loopback, each member an etcdnode
// process (test/cluster/etcdnode: etcd's own server, the version in
// go.mod) with its own data directory, client and peer ports.
type Etcd struct {
	// Endpoints are the members' client URLs, for renewd's
	// cluster.etcd.endpoints.
	Endpoints []string
	Members   []*Process
}

// StartEtcd starts three members of a new cluster with bin (the built
// etcdnode), their data and logs in a new directory of t's, and waits
// until each says it is ready. They are stopped (SIGTERM, then SIGKILL)
// when t ends.
func StartEtcd(t TB, bin string) *Etcd {
	t.Helper()
	dir := t.TempDir()
	type member struct{ name, client, peer string }
	var ms []member
	var initial []string
	for i := 1; i <= 3; i++ {
		m := member{name: fmt.Sprintf("m%d", i),
			client: fmt.Sprintf("http://127.0.0.1:%d", MustFreePort(t)), peer: fmt.Sprintf("http://127.0.0.1:%d", MustFreePort(t))}
		ms = append(ms, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	e := &Etcd{}
	// A new cluster is ready only once a majority runs: start all, then wait.
	for _, m := range ms {
		p, err := StartProcess(filepath.Join(dir, m.name+".log"), nil, bin,
			"-name", m.name, "-data-dir", filepath.Join(dir, m.name), "-client", m.client, "-peer", m.peer,
			"-initial-cluster", strings.Join(initial, ","), "-state", "new")
		if err != nil {
			t.Fatalf("etcd member %s: %v", m.name, err)
		}
		t.Cleanup(func() { p.Terminate(30 * time.Second) })
		e.Members, e.Endpoints = append(e.Members, p), append(e.Endpoints, m.client)
	}
	for i, m := range ms {
		p := e.Members[i]
		err := WaitFor("etcd member "+m.name, 90*time.Second, func() error {
			select {
			case <-p.Done():
				return errors.New("exited")
			default:
			}
			data, _ := os.ReadFile(p.Log)
			if !strings.Contains(string(data), fmt.Sprintf("ready %s %s", m.name, m.client)) {
				return errors.New("not ready")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v\n%s", err, p.Tail())
		}
	}
	return e
}
