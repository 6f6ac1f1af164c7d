// Command etcdnode runs one member of a real etcd cluster, for the cluster
// end-to-end tests: it embeds etcd's own server (go.etcd.io/etcd/server/v3,
// the version in go.mod) so the tests need no etcd from Debian, whose
// etcd-server package is too old. With -cert-file and -key-file its client
// URL is https; with -trusted-ca-file it requires client certificates.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	name := flag.String("name", "", "member name")
	dir := flag.String("data-dir", "", "data directory")
	client := flag.String("client", "", "client URL, http://127.0.0.1:PORT")
	peer := flag.String("peer", "", "peer URL, http://127.0.0.1:PORT")
	cluster := flag.String("initial-cluster", "", "name=peerURL,...")
	state := flag.String("state", "new", "initial cluster state: new or existing")
	certFile := flag.String("cert-file", "", "server certificate for client connections (an https client URL)")
	keyFile := flag.String("key-file", "", "its private key")
	trustedCA := flag.String("trusted-ca-file", "", "CA of the client certificates; set, etcd requires one (--client-cert-auth)")
	flag.Parse()

	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = *name, *dir
	cu, err := url.Parse(*client)
	if err != nil {
		fail(err)
	}
	pu, err := url.Parse(*peer)
	if err != nil {
		fail(err)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = *cluster
	cfg.ClusterState = *state
	cfg.InitialClusterToken = "renewd-test"
	cfg.LogLevel = "warn"
	cfg.TickMs, cfg.ElectionMs = 50, 500
	cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = *certFile, *keyFile
	if *trustedCA != "" {
		cfg.ClientTLSInfo.TrustedCAFile, cfg.ClientTLSInfo.ClientCertAuth = *trustedCA, true
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fail(err)
	}
	defer e.Close()
	<-e.Server.ReadyNotify()
	fmt.Println("ready", strings.Join([]string{*name, *client}, " "))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-e.Err():
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "etcdnode:", err)
	os.Exit(1)
}
