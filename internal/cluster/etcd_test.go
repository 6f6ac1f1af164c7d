package cluster

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/test/harness"
)

// startEtcd runs a real one-member etcd inside the test (the same server
// code as the end-to-end tests' three-member cluster) and returns a client
// and the cluster settings that reach it.
func startEtcd(t *testing.T) (*clientv3.Client, config.Cluster) {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(cfg.Dir, "etcd.log")} // its shutdown chatter is not the test's
	client, peer := freeURL(t), freeURL(t)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.TickMs, cfg.ElectionMs = 10, 100
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not start")
	}
	cc := config.Cluster{Node: "n1", Prefix: "/renewd-test/", LeaseTTL: 5 * time.Second, DeployTimeout: 10 * time.Second,
		Etcd: config.Etcd{Endpoints: []string{client.String()}, DialTimeout: 5 * time.Second}}
	cli, err := Connect(context.Background(), cc, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli, cc
}

// freeURL is a loopback URL on a port the test harness hands out: one no
// other test package running at the same time is given.
func freeURL(t *testing.T) url.URL {
	t.Helper()
	return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", harness.MustFreePort(t))}
}
