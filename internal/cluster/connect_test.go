package cluster

import (
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
