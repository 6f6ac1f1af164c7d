package config

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// clusterYAML is a valid cluster block, one field a line, so each error's
// line is known: node 2, endpoints 4, dial_timeout 5, tls 6-9, username
// 10, password 11, prefix 12, key_file 13, lease_ttl 14, deploy_timeout 15.
const clusterYAML = `cluster:
  node: web1
  etcd:
    endpoints: [https://10.0.0.11:2379, https://10.0.0.12:2379]
    dial_timeout: 3s
    tls:
      ca: etcd-ca.pem
      cert: etcd-client.pem
      key: etcd-client-key.pem
    username: renewd
    password: ${ETCD_PASSWORD}
  prefix: /renewd/
  key_file: cluster.key
  lease_ttl: 20s
  deploy_timeout: 2m
`

// clusterFiles are the files clusterYAML names, valid, with yaml as
// renewd.yaml.
func clusterFiles(t *testing.T, yaml string) map[string]string {
	t.Helper()
	b := testpki.New(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	ca := b.Root()
	client := b.Issue(ca, testpki.Names("web1"))
	return map[string]string{
		"renewd.yaml":         yaml,
		"domains.d/":          "",
		"etcd-ca.pem":         string(testpki.PEM(ca)),
		"etcd-client.pem":     string(testpki.PEM(client)),
		"etcd-client-key.pem": string(client.KeyPEM()),
		"cluster.key":         strings.Repeat("k", 32),
	}
}

var clusterEnv = envMap(map[string]string{"ETCD_PASSWORD": "s3cret"})

func TestClusterValid(t *testing.T) {
	c, dir := mustLoad(t, clusterFiles(t, clusterYAML), Options{LookupEnv: clusterEnv})
	cl := c.Cluster
	if !cl.Enabled() || cl.Node != "web1" || cl.Prefix != "/renewd/" || cl.LeaseTTL != 20*time.Second ||
		cl.DeployTimeout != 2*time.Minute || cl.Etcd.DialTimeout != 3*time.Second || len(cl.Etcd.Endpoints) != 2 ||
		cl.Etcd.Username != "renewd" || cl.Etcd.Password != "s3cret" {
		t.Errorf("cluster = %+v", cl)
	}
	// Relative paths are relative to the configuration's directory.
	for field, got := range map[string]string{"key_file": cl.KeyFile, "tls.ca": cl.Etcd.TLS.CA, "tls.cert": cl.Etcd.TLS.Cert, "tls.key": cl.Etcd.TLS.Key} {
		if !filepath.IsAbs(got) || filepath.Dir(got) != dir {
			t.Errorf("%s = %q, want a path in %s", field, got, dir)
		}
	}
}

func TestClusterDefaults(t *testing.T) {
	yaml := "cluster:\n  etcd: {endpoints: [http://127.0.0.1:2379]}\n  prefix: /mine\n  key_file: cluster.key\n"
	c, _ := mustLoad(t, clusterFiles(t, yaml), Options{})
	host, _ := os.Hostname()
	cl := c.Cluster
	if cl.Node != host || cl.Prefix != "/mine/" || cl.LeaseTTL != 30*time.Second || cl.DeployTimeout != 5*time.Minute ||
		cl.Etcd.DialTimeout != 5*time.Second {
		t.Errorf("cluster = %+v; want the host name, /mine/, 30s, 5m, 5s", cl)
	}
	c, _ = mustLoad(t, map[string]string{"renewd.yaml": "", "domains.d/": ""}, Options{})
	if c.Cluster.Enabled() {
		t.Error("a cluster without a cluster block")
	}
}

// TestClusterErrors: each mistake in the cluster block is reported at
// file:line: field, with what to write instead.
func TestClusterErrors(t *testing.T) {
	tests := []struct {
		desc    string
		replace []string // old, new pairs applied to clusterYAML
		files   map[string]string
		want    []string
	}{
		{desc: "no endpoints but a key_file", replace: []string{"    endpoints: [https://10.0.0.11:2379, https://10.0.0.12:2379]\n", ""},
			want: []string{"renewd.yaml:3: cluster.etcd.endpoints: missing; a cluster needs the etcd client URLs, such as [https://10.0.0.1:2379]"}},
		{desc: "endpoint without a scheme", replace: []string{"https://10.0.0.12:2379", "10.0.0.12:2379"},
			want: []string{`renewd.yaml:4: cluster.etcd.endpoints[1]: "10.0.0.12:2379" is not an etcd client URL; write it like https://10.0.0.1:2379`}},
		{desc: "endpoint without a port", replace: []string{"https://10.0.0.11:2379", "https://10.0.0.11"},
			want: []string{`renewd.yaml:4: cluster.etcd.endpoints[0]: "https://10.0.0.11" is not an etcd client URL; write it like https://10.0.0.1:2379`}},
		{desc: "endpoint of another scheme", replace: []string{"https://10.0.0.11:2379", "unix://10.0.0.11:2379"},
			want: []string{`renewd.yaml:4: cluster.etcd.endpoints[0]: "unix://10.0.0.11:2379" is not an etcd client URL; write it like https://10.0.0.1:2379`}},
		{desc: "node with a slash", replace: []string{"node: web1", "node: web/1"},
			want: []string{`renewd.yaml:2: cluster.node: "web/1" has '/' at byte 3; use letters, digits, '.', '_' or '-' (not first)`}},
		{desc: "node starting with a dot", replace: []string{"node: web1", "node: .web1"},
			want: []string{`renewd.yaml:2: cluster.node: ".web1" has '.' at byte 0; use letters, digits, '.', '_' or '-' (not first)`}},
		{desc: "node too long", replace: []string{"node: web1", "node: " + strings.Repeat("w", 65)},
			want: []string{`renewd.yaml:2: cluster.node: "` + strings.Repeat("w", 65) + `" is longer than 64 bytes`}},
		{desc: "relative prefix", replace: []string{"prefix: /renewd/", "prefix: renewd/"},
			want: []string{`renewd.yaml:12: cluster.prefix: "renewd/" must start with /, such as /renewd/`}},
		{desc: "lease_ttl too short", replace: []string{"lease_ttl: 20s", "lease_ttl: 4s"},
			want: []string{"renewd.yaml:14: cluster.lease_ttl: 4s is out of range; use 5s to 10m (default 30s)"}},
		{desc: "lease_ttl too long", replace: []string{"lease_ttl: 20s", "lease_ttl: 11m"},
			want: []string{"renewd.yaml:14: cluster.lease_ttl: 11m is out of range; use 5s to 10m (default 30s)"}},
		{desc: "deploy_timeout zero", replace: []string{"deploy_timeout: 2m", "deploy_timeout: 0s"},
			want: []string{"renewd.yaml:15: cluster.deploy_timeout: must be positive, such as 5m"}},
		{desc: "dial_timeout negative", replace: []string{"dial_timeout: 3s", "dial_timeout: -1s"},
			want: []string{"renewd.yaml:5: cluster.etcd.dial_timeout: must be positive, such as 5s"}},
		{desc: "no key_file", replace: []string{"  key_file: cluster.key\n", ""},
			want: []string{"renewd.yaml:1: cluster.key_file: missing; private keys are encrypted with it before they enter etcd: create it once with `head -c 32 /dev/urandom > /etc/renewd/cluster.key` (mode 0600) and copy it to every node"}},
		{desc: "key_file absent", replace: []string{"key_file: cluster.key", "key_file: nokey"},
			want: []string{"renewd.yaml:13: cluster.key_file: nokey: no such file or directory; create it once with `head -c 32 /dev/urandom > nokey` (mode 0600) and copy it to every node"}},
		{desc: "key_file too short", files: map[string]string{"cluster.key": "short"},
			want: []string{"renewd.yaml:13: cluster.key_file: cluster.key holds 5 bytes, not a 32-byte key (raw, 64 hex digits or base64); create one with `head -c 32 /dev/urandom > cluster.key`"}},
		{desc: "tls cert without key", replace: []string{"      key: etcd-client-key.pem\n", ""},
			want: []string{"renewd.yaml:6: cluster.etcd.tls.key: cert and key go together: set both, or neither"}},
		{desc: "tls key without cert", replace: []string{"      cert: etcd-client.pem\n", ""},
			want: []string{"renewd.yaml:8: cluster.etcd.tls.key: cert and key go together: set both, or neither"}},
		{desc: "tls ca absent", replace: []string{"ca: etcd-ca.pem", "ca: no-ca.pem"},
			want: []string{"renewd.yaml:7: cluster.etcd.tls.ca: no-ca.pem: no such file or directory"}},
		{desc: "tls ca not PEM", files: map[string]string{"etcd-ca.pem": "not a certificate"},
			want: []string{"renewd.yaml:7: cluster.etcd.tls.ca: etcd-ca.pem: has no PEM CERTIFICATE block"}},
		{desc: "tls cert absent", replace: []string{"cert: etcd-client.pem", "cert: no-cert.pem"},
			want: []string{"renewd.yaml:8: cluster.etcd.tls.cert: no-cert.pem: no such file or directory"}},
		{desc: "tls key absent", replace: []string{"key: etcd-client-key.pem", "key: no-key.pem"},
			want: []string{"renewd.yaml:9: cluster.etcd.tls.key: no-key.pem: no such file or directory"}},
		{desc: "username without password", replace: []string{"    password: ${ETCD_PASSWORD}\n", ""},
			want: []string{"renewd.yaml:3: cluster.etcd.password: username and password go together: set both, or neither"}},
		{desc: "password without username", replace: []string{"    username: renewd\n", ""},
			want: []string{"renewd.yaml:10: cluster.etcd.password: username and password go together: set both, or neither"}},
		{desc: "lease_ttl not a duration", replace: []string{"lease_ttl: 20s", "lease_ttl: soon"},
			want: []string{`renewd.yaml:14: cluster.lease_ttl: want a duration such as 90s, 5m, 24h or 30d, got "soon"`}},
		{desc: "unknown field", replace: []string{"lease_ttl: 20s", "lease_tll: 20s"},
			want: []string{`renewd.yaml:14: cluster.lease_tll: unknown field; did you mean lease_ttl? valid: node, etcd, prefix, key_file, lease_ttl, deploy_timeout`}},
		{desc: "without endpoints, only node", replace: []string{"    endpoints: [https://10.0.0.11:2379, https://10.0.0.12:2379]\n", "", "  key_file: cluster.key\n", ""},
			want: []string{"renewd.yaml:3: cluster.etcd.endpoints: missing; a cluster needs the etcd client URLs, such as [https://10.0.0.1:2379]"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			yaml := strings.NewReplacer(tt.replace...).Replace(clusterYAML)
			if len(tt.replace) > 0 && yaml == clusterYAML {
				t.Fatalf("replacements %q changed nothing", tt.replace)
			}
			files := clusterFiles(t, yaml)
			for k, v := range tt.files {
				files[k] = v
			}
			_, errs, _ := loadTree(t, files, Options{LookupEnv: clusterEnv})
			diffLines(t, errs, tt.want)
		})
	}
}

func TestReadClusterKey(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	tests := []struct {
		desc    string
		content []byte
		err     string // "" for the key
	}{
		{desc: "raw 32 bytes", content: raw},
		{desc: "64 hex digits and a newline", content: []byte(hex.EncodeToString(raw) + "\n")},
		{desc: "base64", content: []byte("  " + base64.StdEncoding.EncodeToString(raw) + "\n")},
		{desc: "31 bytes", content: raw[:31], err: "holds 31 bytes, not a 32-byte key"},
		{desc: "hex of 31 bytes", content: []byte(hex.EncodeToString(raw[:31])), err: "holds 62 bytes, not a 32-byte key"},
		{desc: "too big to be a key", content: make([]byte, 2048), err: "is not a key file (a regular file of 32 bytes)"},
	}
	for i, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := filepath.Join(dir, strings.Repeat("k", i+1))
			if err := os.WriteFile(p, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			key, err := ReadClusterKey(p)
			switch {
			case tt.err == "" && (err != nil || string(key) != string(raw)):
				t.Errorf("ReadClusterKey = %q, %v; want the key", key, err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), p)):
				t.Errorf("ReadClusterKey: %v; want an error naming %s: %s", err, p, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), string(raw[:8])) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
	if _, err := ReadClusterKey(dir); err == nil || !strings.Contains(err.Error(), "is not a key file") {
		t.Errorf("a directory as key file: %v", err)
	}
}
