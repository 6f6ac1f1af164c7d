package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/testpki"
)

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		desc    string
		version string
		want    bool
	}{
		{desc: "the oldest supported", version: "3.5.0", want: true},
		{desc: "a later patch", version: "3.5.17", want: true},
		{desc: "a later minor", version: "3.6.0", want: true},
		{desc: "two-digit minor", version: "3.10.1", want: true},
		{desc: "a later major", version: "4.0.0", want: true},
		{desc: "major and minor only", version: "3.5", want: true},
		{desc: "a pre-release", version: "3.6.0-alpha.0", want: true},
		{desc: "an older minor", version: "3.4.35"},
		{desc: "an older major", version: "2.9.0"},
		{desc: "an older major with a greater minor", version: "2.10.0"},
		{desc: "empty", version: ""},
		{desc: "major only", version: "3"},
		{desc: "not numbers", version: "three.five.zero"},
		{desc: "a leading v", version: "v3.5.0"},
		{desc: "minor with a suffix", version: "3.5-rc.1"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := versionAtLeast(tt.version, minServer); got != tt.want {
				t.Errorf("versionAtLeast(%q, %v) = %v, want %v", tt.version, minServer, got, tt.want)
			}
		})
	}
}

// TestTLSConfig: what Connect builds from cluster.etcd.tls, and errors
// that name the field and the file to fix.
func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	b := testpki.New(t, time.Now())
	ca := b.Root()
	client := b.Issue(ca, testpki.Names("web1"))
	other := b.Issue(ca, testpki.Names("web2"))
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile, certFile, keyFile := write("ca.pem", testpki.PEM(ca)), write("client.pem", testpki.PEM(client)), write("client-key.pem", client.KeyPEM())
	otherKey := write("other-key.pem", other.KeyPEM())
	junk := write("junk.pem", []byte("not PEM"))
	https := []string{"https://10.0.0.1:2379"}

	if c, err := tlsConfig(config.Etcd{Endpoints: []string{"http://10.0.0.1:2379"}}); c != nil || err != nil {
		t.Errorf("plain http: %v, %v; want no TLS", c, err)
	}
	if c, err := tlsConfig(config.Etcd{Endpoints: https}); err != nil || c == nil || c.RootCAs != nil || len(c.Certificates) != 0 {
		t.Errorf("https with the system roots: %+v, %v", c, err)
	}
	c, err := tlsConfig(config.Etcd{Endpoints: https, TLS: config.EtcdTLS{CA: caFile, Cert: certFile, Key: keyFile}})
	if err != nil || c.RootCAs == nil || len(c.Certificates) != 1 {
		t.Fatalf("CA and client certificate: %+v, %v", c, err)
	}

	tests := []struct {
		desc string
		tls  config.EtcdTLS
		want []string // in the error
	}{
		{desc: "CA absent", tls: config.EtcdTLS{CA: filepath.Join(dir, "none.pem")}, want: []string{"cluster.etcd.tls.ca", "none.pem", "no such file"}},
		{desc: "CA not PEM", tls: config.EtcdTLS{CA: junk}, want: []string{"cluster.etcd.tls.ca", junk, "holds no PEM certificate"}},
		{desc: "key absent", tls: config.EtcdTLS{Cert: certFile, Key: filepath.Join(dir, "none-key.pem")},
			want: []string{"cluster.etcd.tls.key", "none-key.pem", "no such file"}},
		{desc: "key of another certificate", tls: config.EtcdTLS{Cert: certFile, Key: otherKey},
			want: []string{"cluster.etcd.tls.cert " + certFile, "cluster.etcd.tls.key " + otherKey, "private key does not match public key"}},
		{desc: "key not PEM", tls: config.EtcdTLS{Cert: certFile, Key: junk}, want: []string{"cluster.etcd.tls.key " + junk}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := tlsConfig(config.Etcd{Endpoints: https, TLS: tt.tls})
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v; want it to say %q", err, w)
				}
			}
		})
	}
}

// tlsServer is a TLS endpoint that requires client certificates signed by
// clientCA, as etcd with --client-cert-auth does; it answers a connection
// it accepted with one byte.
func tlsServer(t *testing.T, server, clientCA *testpki.Cert) string {
	t.Helper()
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{server.Cert.Raw}, PrivateKey: server.Key}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: testpki.Pool(clientCA),
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte{0})
					_, _ = io.ReadAll(c)
				}
			}()
		}
	}()
	return "https://" + l.Addr().String()
}

// TestDiagnoseTLS: when etcd does not answer over TLS, the error names the
// setting and the file at fault.
func TestDiagnoseTLS(t *testing.T) {
	dir := t.TempDir()
	b := testpki.New(t, time.Now())
	serverCA, clientCA, strangers := b.Root(testpki.CN("etcd server CA")), b.Root(testpki.CN("etcd client CA")), b.Root(testpki.CN("another CA"))
	server := b.Issue(serverCA, testpki.IPs(testpki.IP("127.0.0.1")))
	clientAuth := testpki.ExtKeyUsage(x509.ExtKeyUsageClientAuth)
	good, stranger := b.Issue(clientCA, testpki.Names("web1"), clientAuth), b.Issue(strangers, testpki.Names("web1"), clientAuth)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := config.EtcdTLS{CA: write("ca.pem", testpki.PEM(serverCA)), Cert: write("client.pem", testpki.PEM(good)), Key: write("client-key.pem", good.KeyPEM())}
	wrongCA := write("wrong-ca.pem", testpki.PEM(clientCA))
	strangerCert, strangerKey := write("stranger.pem", testpki.PEM(stranger)), write("stranger-key.pem", stranger.KeyPEM())
	ep := tlsServer(t, server, clientCA)
	dead := "https://" + freeURL(t).Host

	tests := []struct {
		desc     string
		endpoint string
		tls      config.EtcdTLS
		want     []string // nil: no TLS fault found
	}{
		{desc: "all right", endpoint: ep, tls: files},
		{desc: "wrong CA", endpoint: ep, tls: config.EtcdTLS{CA: wrongCA, Cert: files.Cert, Key: files.Key},
			want: []string{"etcd " + ep + ": cluster.etcd.tls.ca " + wrongCA + " does not verify its certificate", "unknown authority"}},
		{desc: "system roots", endpoint: ep, tls: config.EtcdTLS{Cert: files.Cert, Key: files.Key},
			want: []string{"the system's roots do not verify its certificate", "set cluster.etcd.tls.ca"}},
		{desc: "client certificate of another CA", endpoint: ep, tls: config.EtcdTLS{CA: files.CA, Cert: strangerCert, Key: strangerKey},
			want: []string{"etcd " + ep + " refused this node's client certificate cluster.etcd.tls.cert " + strangerCert, "remote error: tls"}},
		{desc: "no client certificate", endpoint: ep, tls: config.EtcdTLS{CA: files.CA},
			want: []string{"it may require a client certificate: set cluster.etcd.tls.cert and cluster.etcd.tls.key"}},
		{desc: "nothing listens", endpoint: dead, tls: files},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			e := config.Etcd{Endpoints: []string{tt.endpoint}, TLS: tt.tls, DialTimeout: 5 * time.Second}
			c, err := tlsConfig(e)
			if err != nil {
				t.Fatal(err)
			}
			err = diagnoseTLS(context.Background(), tt.endpoint, e, c)
			if tt.want == nil && err != nil {
				t.Errorf("diagnosis %v; want none", err)
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("diagnosis %v; want it to say %q", err, w)
				}
			}
		})
	}
}
