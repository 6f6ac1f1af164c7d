package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// TestEtcdTLS: etcd takes only TLS from its clients, and only with a client
// certificate signed by its client CA (docs/cluster.md's setup). Three
// nodes with cluster.etcd.tls join, elect, issue and deploy through it, and
// `cluster status` reads it. The mistakes an operator makes with those
// settings are refused, each naming the setting and the file, and harm no
// running node.
func TestEtcdTLS(t *testing.T) {
	e, pki := startEtcdTLS(t)
	cli := etcdTLSClient(t, e, pki)
	c := newCluster(t, "tls")
	tlsSetting := func(ca, cert, key string) string {
		var fields []string
		for _, f := range [][2]string{{"ca", ca}, {"cert", cert}, {"key", key}} {
			if f[1] != "" {
				fields = append(fields, fmt.Sprintf("%s: %q", f[0], f[1]))
			}
		}
		return "{" + strings.Join(fields, ", ") + "}"
	}
	good := tlsSetting(pki.serverCAFile, pki.clientCert, pki.clientKey)
	c.useEtcd(e, cli, good)
	serials := c.bootstrap()
	n2 := c.nodes[1]
	o := n2.clusterStatus()
	if o.Leader != "n1" || len(o.Nodes) != 3 || len(o.Certificates) != 1 || o.Certificates[0].Served["n2"].Serial != serials["site"] {
		t.Errorf("cluster status over TLS: %+v; want n1 leading, 3 nodes, n2 serving %s", o, serials["site"])
	}

	// n2's configuration with other TLS settings, next to it (same
	// domains.d and storage): what `cluster status` says.
	try := func(t *testing.T, tls string) result {
		t.Helper()
		cfg := strings.Replace(readFile(t, n2.config), ", tls: "+good, ", tls: "+tls, 1)
		if !strings.Contains(cfg, tls) {
			t.Fatal("the TLS setting was not replaced")
		}
		config := filepath.Join(n2.dir, "renewd-"+strings.ReplaceAll(t.Name(), "/", "-")+".yaml")
		if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		res := runCLI(t, config, "cluster", "status")
		t.Logf("%s", res)
		return res
	}
	t.Run("wrong CA", func(t *testing.T) {
		// The client CA is not the one that signed etcd's certificate.
		res := try(t, tlsSetting(pki.clientCAFile, pki.clientCert, pki.clientKey))
		want := "cluster.etcd.tls.ca " + pki.clientCAFile + " does not verify its certificate"
		if res.Code != 1 || !strings.Contains(res.Stderr, want) {
			t.Errorf("want exit 1 saying %q: %s", want, res)
		}
	})
	t.Run("client certificate etcd refuses", func(t *testing.T) {
		cert, key := pki.issueClient(t, pki.b.Root(testpki.CN("a CA etcd does not trust")), "stranger")
		res := try(t, tlsSetting(pki.serverCAFile, cert, key))
		want := "refused this node's client certificate cluster.etcd.tls.cert " + cert
		if res.Code != 1 || !strings.Contains(res.Stderr, want) {
			t.Errorf("want exit 1 saying %q: %s", want, res)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		res := try(t, tlsSetting(pki.serverCAFile, "", ""))
		want := "it may require a client certificate: set cluster.etcd.tls.cert and cluster.etcd.tls.key"
		if res.Code != 1 || !strings.Contains(res.Stderr, want) {
			t.Errorf("want exit 1 saying %q: %s", want, res)
		}
	})
	t.Run("key missing from the settings", func(t *testing.T) {
		res := try(t, tlsSetting(pki.serverCAFile, pki.clientCert, ""))
		if res.Code != 2 || !strings.Contains(res.Stderr, ": cluster.etcd.tls.key: cert and key go together: set both, or neither") {
			t.Errorf("want exit 2 naming cluster.etcd.tls.key: %s", res)
		}
	})
	t.Run("key file missing", func(t *testing.T) {
		gone := filepath.Join(t.TempDir(), "gone-key.pem")
		res := try(t, tlsSetting(pki.serverCAFile, pki.clientCert, gone))
		if res.Code != 2 || !strings.Contains(res.Stderr, ": cluster.etcd.tls.key: "+gone+": no such file or directory") {
			t.Errorf("want exit 2 naming cluster.etcd.tls.key and %s: %s", gone, res)
		}
	})

	for _, n := range c.nodes {
		if !n.running() {
			t.Errorf("%s is not running", n.name)
		}
	}
	c.waitAlive(10*time.Second, "n1", "n2", "n3")
}
