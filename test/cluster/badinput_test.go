package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBadInput: mistakes an operator makes with a cluster, each refused
// clearly and without harm to the running nodes.
func TestBadInput(t *testing.T) {
	c := newCluster(t, "bad-input")
	old := c.bootstrap()["site"]
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	// A second renewd started as n1 (a copied configuration) is refused
	// once the name stays taken for a lease, and n1 is not disturbed.
	t.Run("duplicate node name", func(t *testing.T) {
		dir := t.TempDir()
		cfg := strings.Replace(readFile(t, n1.config), "storage: "+n1.storage, "storage: "+filepath.Join(dir, "storage"), 1)
		cfg = strings.Replace(cfg, "storage:", "domains_dir: "+filepath.Join(n1.dir, "domains.d")+"\nstorage:", 1)
		config := filepath.Join(dir, "renewd.yaml")
		if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		res := runCLI(t, config, "run")
		t.Logf("second n1: %s", res)
		if res.Code != 2 || !strings.Contains(res.Stderr, `is node "n1"; give every node its own cluster.node`) {
			t.Errorf("a second node named n1: want exit 2 naming the clash: %s", res)
		}
		if res.Took > leaseTTL+5*time.Second+10*time.Second {
			t.Errorf("refused only after %s", res.Took)
		}
		if got := c.leader(); got != "n1" || !n1.running() {
			t.Errorf("after the clash: leader %q, n1 running %v", got, n1.running())
		}
		c.waitAlive(10*time.Second, "n1", "n2", "n3")
	})

	// n3 started with another key file is refused before it joins: exit
	// 2, naming the setting and both keys' check values (never a key). It
	// would otherwise run and fail to open every private key the leader
	// sends it. n1 and n2 are not disturbed; with the right key n3 joins.
	t.Run("wrong key_file", func(t *testing.T) {
		wrong := filepath.Join(t.TempDir(), "other.key")
		if err := writeKey(wrong); err != nil {
			t.Fatal(err)
		}
		n3.stop()
		n3.keyFile = wrong
		n3.writeConfig()
		res := runCLI(t, n3.config, "run")
		t.Logf("n3 on a wrong key: %s", res)
		if res.Code != 2 || !strings.Contains(res.Stderr, "cluster.key_file is not the cluster's key") || !strings.Contains(res.Stderr, "check value") {
			t.Errorf("run with a wrong key_file: want exit 2 naming cluster.key_file and the check values: %s", res)
		}
		if got := c.leader(); got != "n1" || !n1.running() || !n2.running() {
			t.Errorf("after the refusal: leader %q, n1 running %v, n2 running %v", got, n1.running(), n2.running())
		}
		n3.keyFile = env.keyFile
		n3.writeConfig()
		n3.start()
		c.waitAlive(30*time.Second, "n1", "n2", "n3")
		n3.mustServe("site", old)
	})

	// No etcd at the configured endpoints: every command that needs it
	// fails within the dial timeout, naming the setting to check.
	t.Run("unreachable endpoints", func(t *testing.T) {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		cfg := readFile(t, n2.config)
		cfg = strings.Replace(cfg, "endpoints: "+yamlList(n2.endpoints), fmt.Sprintf("endpoints: [\"http://%s:%d\"]", n2.ip, port), 1)
		cfg = strings.Replace(cfg, "storage: "+n2.storage, "domains_dir: "+filepath.Join(n2.dir, "domains.d")+"\nstorage: "+filepath.Join(dir, "storage"), 1)
		config := filepath.Join(dir, "renewd.yaml")
		if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"cluster", "status"}, {"status"}, {"renew", "--now"}, {"run"}} {
			res := runCLI(t, config, args...)
			t.Logf("%v: %s", args, res)
			if res.Code != 1 || !strings.Contains(res.Stderr, fmt.Sprintf("no etcd endpoint answered within %s", dialTimeout)) ||
				!strings.Contains(res.Stderr, "check cluster.etcd.endpoints") {
				t.Errorf("%v with no etcd: want exit 1 saying no endpoint answered and what to check: %s", args, res)
			}
			if res.Took > dialTimeout+5*time.Second {
				t.Errorf("%v took %s to fail; the dial timeout is %s", args, res.Took, dialTimeout)
			}
		}
	})

	// The nodes are still fine.
	for _, n := range c.nodes {
		if !n.running() {
			t.Errorf("%s is not running", n.name)
		}
	}
}
