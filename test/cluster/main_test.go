// Package cluster runs renewd's cluster mode end to end, with real
// components only: a 3-member etcd cluster (etcdnode, which embeds the etcd
// server pinned in go.mod), Pebble and pebble-challtestsrv (go.mod tools),
// three `renewd run` daemons on 127.0.0.2, .3 and .4, each with its own
// Debian nginx, storage and domains.d, and the built renewd CLI as an
// operator runs it. Each scenario kills, stops, partitions or breaks one
// part and checks what docs/cluster.md promises, counting the orders the
// CA created.
//
// TestMain builds everything once and starts one etcd cluster, one Pebble
// and one challtestsrv for the package. Scenarios run one after another
// (they share Pebble's HTTP-01 port on the node addresses, and some stop
// etcd members); each uses its own key prefix in etcd, its own counting
// proxy in front of Pebble, its own domains, daemons and nginx. A missing
// component is a failure, never a skip; `go test -short` skips the package.
//
// The plumbing (builds, ports, processes, Pebble and challtestsrv, nginx,
// etcd, the counting CA proxy, cuttable TCP links) is the shared test
// harness, test/harness; what is this package's own is the cluster of
// three nodes and the scenarios.
package cluster

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/renewd/renewd/test/harness"
)

// env is what TestMain prepares for every scenario.
var env struct {
	renewd      string
	renewdCrash string // -tags crashpoints: RENEWD_CRASH_AT, RENEWD_PAUSE_AT, RENEWD_ARM_FILE
	etcdnode    string
	tls         *harness.TLSCA // signs Pebble's and the proxies' HTTPS certificates
	tlsCAFile   string
	chall       *harness.ChallTestSrv
	etcd        *harness.Etcd
	pebble      *harness.Pebble
	keyFile     string // the cluster key every node shares
}

// nodeIPs are the nodes' loopback addresses: a port used by a node must be
// free on all of them. None is 127.0.0.1: the test packages that run at
// the same time (e2e, clients, takeover) take their ports there, each a
// port the kernel found free, and a node binds some of its ports again
// and again (its HTTP-01 responder, on Pebble's HTTP port, for every
// token): on 127.0.0.1, one of them could hold such a port just then.
var nodeIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}

func TestMain(m *testing.M) { harness.Main(m, "cluster", setup) }

// setup builds renewd (also with crash points), Pebble, challtestsrv and
// etcdnode from the versions in go.mod, and starts challtestsrv, etcd and
// Pebble for every scenario. Names nobody pointed at a node resolve to
// 127.0.0.254, where nothing answers: a scenario that forgets to point its
// domains fails validation instead of passing through whichever node
// happens to answer.
func setup(m *testing.M) (int, error) {
	tb, err := harness.NewMainTB("renewd-cluster-")
	if err != nil {
		return 0, err
	}
	defer tb.Close()
	dir := tb.Dir
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bins := harness.ACMEBinaries()
	bins["etcdnode"] = harness.EtcdNodePackage
	if err := harness.Build(ctx, dir, bins); err != nil {
		return 0, err
	}
	if err := harness.BuildTags(ctx, dir, "crashpoints", map[string]string{"renewd-crash": harness.RenewdPackage}); err != nil {
		return 0, err
	}
	env.renewd, env.renewdCrash, env.etcdnode = filepath.Join(dir, "renewd"), filepath.Join(dir, "renewd-crash"), filepath.Join(dir, "etcdnode")
	if env.tls, err = harness.NewTLSCA("renewd cluster tests TLS CA"); err != nil {
		return 0, err
	}
	env.tlsCAFile = filepath.Join(dir, "tls-ca.pem")
	if err := os.WriteFile(env.tlsCAFile, env.tls.CertPEM, 0o644); err != nil {
		return 0, err
	}
	env.keyFile = filepath.Join(dir, "cluster.key")
	if err := writeKey(env.keyFile); err != nil {
		return 0, err
	}
	if env.chall, err = harness.StartChallTestSrvDefault(filepath.Join(dir, "pebble-challtestsrv"), dir, "127.0.0.254"); err != nil {
		return 0, err
	}
	tb.Cleanup(env.chall.Proc.Stop)
	env.etcd = harness.StartEtcd(tb, env.etcdnode)
	env.pebble = harness.StartPebble(tb, harness.PebbleOptions{
		Bin: filepath.Join(dir, "pebble"), TLS: env.tls, DNSAddr: env.chall.DNSAddr,
		NonceReject: -1, HTTPIPs: nodeIPs, Profiles: map[string]int{"default": 7776000},
	})
	code := m.Run()
	if code != 0 {
		tb.Fail() // Pebble's log follows
	}
	return code, nil
}

// freePort returns a port free right now on every node address that no
// other call returned.
func freePort() (int, error) { return harness.FreePortOn(nodeIPs...) }

// writeKey writes a fresh 32-byte cluster key, as `head -c 32
// /dev/urandom` would.
func writeKey(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	return os.WriteFile(path, key, 0o600)
}
