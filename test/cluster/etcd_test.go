package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/testpki"
	"github.com/renewd/renewd/test/harness"
)

// etcdClient is the test's own view of the package's etcd, as an
// operator's etcdctl.
func etcdClient(t *testing.T) *clientv3.Client { return etcdClientOf(t, env.etcd, nil) }

// etcdClientOf is the test's client of e, over TLS when tlsConf is set.
func etcdClientOf(t *testing.T, e *harness.Etcd, tlsConf *tls.Config) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), TLS: tlsConf})
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
func startEtcdTLS(t *testing.T) (*harness.Etcd, *etcdPKI) {
	t.Helper()
	dir := t.TempDir()
	p := &etcdPKI{dir: dir, b: testpki.New(t, time.Now())}
	p.serverCA, p.clientCA = p.b.Root(testpki.CN("etcd server CA")), p.b.Root(testpki.CN("etcd client CA"))
	server := p.b.Issue(p.serverCA, testpki.IPs(testpki.IP("127.0.0.1")))
	p.serverCAFile, p.clientCAFile = p.write(t, "server-ca.pem", testpki.PEM(p.serverCA)), p.write(t, "client-ca.pem", testpki.PEM(p.clientCA))
	serverCert, serverKey := p.write(t, "server.pem", testpki.PEM(server)), p.write(t, "server-key.pem", server.KeyPEM())
	p.clientCert, p.clientKey = p.issueClient(t, p.clientCA, "client")
	e := harness.StartEtcdWith(t, env.etcdnode, harness.EtcdOptions{Members: 1,
		CertFile: serverCert, KeyFile: serverKey, TrustedCAFile: p.clientCAFile})
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

// etcdTLSClient is the test's own TLS client of e, with p's client
// certificate.
func etcdTLSClient(t *testing.T, e *harness.Etcd, p *etcdPKI) *clientv3.Client {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	return etcdClientOf(t, e, &tls.Config{RootCAs: testpki.Pool(p.serverCA), Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
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
