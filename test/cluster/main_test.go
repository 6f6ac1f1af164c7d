// Package cluster runs renewd's cluster mode end to end, with real
// components only: a 3-member etcd cluster (etcdnode, which embeds the etcd
// server pinned in go.mod), Pebble and pebble-challtestsrv (go.mod tools),
// three `renewd run` daemons on 127.0.0.1, .2 and .3, each with its own
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
// The helpers are small copies of test/e2e's (Pebble, challtestsrv, nginx,
// the counting CA proxy): this package must not depend on another test
// package. The TLS test CA comes from internal/testpki.
package cluster

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// env is what TestMain prepares for every scenario.
var env struct {
	dir          string // everything TestMain made
	renewd       string
	renewdCrash  string // -tags crashpoints: RENEWD_CRASH_AT, RENEWD_PAUSE_AT, RENEWD_ARM_FILE
	etcdnode     string
	tls          *testCA // signs Pebble's and the proxies' HTTPS certificates
	tlsCAFile    string
	dnsAddr      string // challtestsrv DNS
	challMgmtURL string // challtestsrv management API (add-a)
	etcd         *etcdCluster
	pebble       *pebble
	keyFile      string // the cluster key every node shares
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("cluster: skipped by -short")
		os.Exit(0)
	}
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "renewd-cluster-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	env.dir = dir
	if err := build(dir); err != nil {
		return 0, err
	}
	env.tls = newTestCA("renewd cluster tests TLS CA")
	env.tlsCAFile = filepath.Join(dir, "tls-ca.pem")
	if err := os.WriteFile(env.tlsCAFile, testpki.PEM(env.tls.root), 0o644); err != nil {
		return 0, err
	}
	env.keyFile = filepath.Join(dir, "cluster.key")
	if err := writeKey(env.keyFile); err != nil {
		return 0, err
	}
	stopChall, err := startChallTestSrv(dir)
	if err != nil {
		return 0, err
	}
	defer stopChall()
	if env.etcd, err = startEtcd(filepath.Join(dir, "etcd.d")); err != nil {
		return 0, err
	}
	defer env.etcd.stop()
	if env.pebble, err = startPebble(filepath.Join(dir, "pebble.d")); err != nil {
		return 0, err
	}
	defer env.pebble.proc.stop()
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "pebble log (tail):\n%s\n", env.pebble.proc.tail())
	}
	return code, nil
}

// build compiles renewd (also with crash points), Pebble, challtestsrv and
// etcdnode from the versions in go.mod.
func build(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env.renewd = filepath.Join(dir, "renewd")
	env.renewdCrash = filepath.Join(dir, "renewd-crash")
	env.etcdnode = filepath.Join(dir, "etcdnode")
	for _, b := range []struct{ out, pkg, tags string }{
		{env.renewd, "github.com/renewd/renewd/cmd/renewd", ""},
		{env.renewdCrash, "github.com/renewd/renewd/cmd/renewd", "crashpoints"},
		{filepath.Join(dir, "pebble"), "github.com/letsencrypt/pebble/v2/cmd/pebble", ""},
		{filepath.Join(dir, "pebble-challtestsrv"), "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv", ""},
		{env.etcdnode, "github.com/renewd/renewd/test/cluster/etcdnode", ""},
	} {
		args := []string{"build", "-o", b.out}
		if b.tags != "" {
			args = append(args, "-tags", b.tags)
		}
		cmd := exec.CommandContext(ctx, "go", append(args, b.pkg)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b.pkg, err)
		}
	}
	return nil
}

// writeKey writes a fresh 32-byte cluster key, as `head -c 32
// /dev/urandom` would.
func writeKey(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	return os.WriteFile(path, key, 0o600)
}
