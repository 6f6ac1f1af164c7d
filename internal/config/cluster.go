package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Cluster makes renewd nodes share one set of certificates through an etcd
// v3 cluster (docs/cluster.md). Without etcd endpoints renewd works alone,
// exactly as without the block.
type Cluster struct {
	// Node is this node's unique name (default: the host name).
	Node string `yaml:"node"`
	// Etcd is how to reach the etcd cluster.
	Etcd Etcd `yaml:"etcd"`
	// Prefix is the key prefix renewd uses in etcd (default "/renewd/").
	Prefix string `yaml:"prefix"`
	// KeyFile holds the 32-byte key that encrypts private keys before they
	// enter etcd: 32 raw bytes, or 64 hex digits, or 44 base64 characters.
	// The same file on every node.
	KeyFile string `yaml:"key_file"`
	// LeaseTTL is how long a node's leadership and liveness outlive it
	// (default 30s): a leader that dies is replaced after at most this.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// DeployTimeout bounds how long the leader waits for every live node
	// to report a new version served (default 5m).
	DeployTimeout time.Duration `yaml:"deploy_timeout"`
}

// Etcd is the etcd client's settings.
type Etcd struct {
	// Endpoints are the client URLs, such as https://10.0.0.1:2379.
	Endpoints []string `yaml:"endpoints"`
	// TLS is the client certificate and the CA that signed etcd's server
	// certificates; required for https endpoints unless the system roots
	// verify them.
	TLS EtcdTLS `yaml:"tls"`
	// Username and Password, for an etcd with authentication enabled.
	// Password is a secret: use ${VAR}.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// DialTimeout bounds connecting (default 5s).
	DialTimeout time.Duration `yaml:"dial_timeout"`
}

// EtcdTLS are PEM files; absolute after Load.
type EtcdTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether a cluster is configured.
func (c Cluster) Enabled() bool { return len(c.Etcd.Endpoints) > 0 }

// Defaults of the cluster block.
const (
	defaultClusterPrefix  = "/renewd/"
	defaultLeaseTTL       = 30 * time.Second
	defaultDeployTimeout  = 5 * time.Minute
	defaultEtcdDialTimout = 5 * time.Second
	// clusterKeySize is AES-256's key length.
	clusterKeySize = 32
)

func applyClusterDefaults(c *Cluster, src *source) {
	if !c.Enabled() {
		return
	}
	if c.Node == "" {
		if h, err := os.Hostname(); err == nil {
			c.Node = h
		}
	}
	setString(&c.Prefix, defaultClusterPrefix)
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if !src.isSet("cluster.lease_ttl") {
		c.LeaseTTL = defaultLeaseTTL
	}
	if !src.isSet("cluster.deploy_timeout") {
		c.DeployTimeout = defaultDeployTimeout
	}
	if !src.isSet("cluster.etcd.dial_timeout") {
		c.Etcd.DialTimeout = defaultEtcdDialTimout
	}
}

func resolveClusterPaths(c *Cluster, dir string) {
	for _, p := range []*string{&c.KeyFile, &c.Etcd.TLS.CA, &c.Etcd.TLS.Cert, &c.Etcd.TLS.Key} {
		if *p != "" {
			*p = resolvePath(dir, *p)
		}
	}
}

// validateCluster checks the cluster block; nothing is checked without
// endpoints, except that other settings without them are a mistake.
func validateCluster(c *Cluster, src *source) {
	if !c.Enabled() {
		if c.KeyFile != "" || c.Node != "" {
			src.errorf("cluster.etcd.endpoints", "missing; a cluster needs the etcd client URLs, such as [https://10.0.0.1:2379]")
		}
		return
	}
	for i, e := range c.Etcd.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Port() == "" {
			src.errorf(fmt.Sprintf("cluster.etcd.endpoints[%d]", i), "%q is not an etcd client URL; write it like https://10.0.0.1:2379", e)
		}
	}
	if err := ValidNodeName(c.Node); err != nil {
		src.errorf("cluster.node", "%v", err)
	}
	if !strings.HasPrefix(c.Prefix, "/") {
		src.errorf("cluster.prefix", "%q must start with /, such as /renewd/", c.Prefix)
	}
	if c.LeaseTTL < 5*time.Second || c.LeaseTTL > 10*time.Minute {
		src.errorf("cluster.lease_ttl", "%s is out of range; use 5s to 10m (default 30s)", formatDuration(c.LeaseTTL))
	}
	if c.DeployTimeout <= 0 {
		src.errorf("cluster.deploy_timeout", "must be positive, such as 5m")
	}
	if c.Etcd.DialTimeout <= 0 {
		src.errorf("cluster.etcd.dial_timeout", "must be positive, such as 5s")
	}
	switch {
	case c.KeyFile == "":
		src.errorf("cluster.key_file", "missing; private keys are encrypted with it before they enter etcd: create it once with `head -c 32 /dev/urandom > /etc/renewd/cluster.key` (mode 0600) and copy it to every node")
	default:
		if _, err := ReadClusterKey(c.KeyFile); err != nil {
			src.errorf("cluster.key_file", "%v", err)
		}
	}
	tls := c.Etcd.TLS
	if (tls.Cert == "") != (tls.Key == "") {
		src.errorf("cluster.etcd.tls.key", "cert and key go together: set both, or neither")
	}
	for _, f := range []struct{ path, file string }{{"cluster.etcd.tls.ca", tls.CA}, {"cluster.etcd.tls.cert", tls.Cert}} {
		if f.file != "" {
			if err := checkPEMFile(f.file); err != nil {
				src.errorf(f.path, "%s: %v", f.file, err)
			}
		}
	}
	if tls.Key != "" {
		if _, err := os.Stat(tls.Key); err != nil {
			src.errorf("cluster.etcd.tls.key", "%s: %v", tls.Key, causeOf(err))
		}
	}
	if (c.Etcd.Username == "") != (c.Etcd.Password == "") {
		src.errorf("cluster.etcd.password", "username and password go together: set both, or neither")
	}
}

// ValidNodeName reports whether name can name a cluster node: it becomes
// part of etcd keys and of metrics labels. ASCII letters, digits, '.', '_'
// and '-', starting with a letter or digit, at most 64 bytes.
func ValidNodeName(name string) error {
	if name == "" {
		return fmt.Errorf("empty, and the host name is unknown; set a name unique in the cluster, such as web1")
	}
	if len(name) > 64 {
		return fmt.Errorf("%q is longer than 64 bytes", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '.' || r == '_' || r == '-'))
		if !ok {
			return fmt.Errorf("%q has %q at byte %d; use letters, digits, '.', '_' or '-' (not first)", name, r, i)
		}
	}
	return nil
}

// ReadClusterKey reads the cluster key file: 32 raw bytes, 64 hex digits
// or 44 base64 characters (surrounding white space ignored). The error says
// what was found, never the key.
func ReadClusterKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v; create it once with `head -c 32 /dev/urandom > %s` (mode 0600) and copy it to every node", path, causeOf(err), path)
	}
	if !fi.Mode().IsRegular() || fi.Size() > 1024 {
		return nil, fmt.Errorf("%s is not a key file (a regular file of 32 bytes)", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, causeOf(err))
	}
	if len(data) == clusterKeySize {
		return data, nil
	}
	s := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(s); err == nil && len(b) == clusterKeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == clusterKeySize {
		return b, nil
	}
	return nil, fmt.Errorf("%s holds %d bytes, not a 32-byte key (raw, 64 hex digits or base64); create one with `head -c 32 /dev/urandom > %s`", path, len(data), path)
}
