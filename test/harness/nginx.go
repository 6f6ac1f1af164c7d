package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NginxBinary finds Debian's nginx, "" when there is none. A test that
// needs one fails without it: scripts/deps.sh installs it.
func NginxBinary() string {
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// MustNginxBinary is NginxBinary, stopping t when there is none: a test
// of renewd with nginx is not run without one.
func MustNginxBinary(t TB) string {
	t.Helper()
	bin := NginxBinary()
	if bin == "" {
		t.Fatalf("nginx not found: install Debian's nginx (scripts/deps.sh, or apt-get install nginx-light)")
	}
	return bin
}

// Nginx is a real nginx with its own prefix, configuration and pid file,
// as a test (or a user) configures it: Servers holds the server blocks,
// Extra more lines inside http {} (a broken include, say). Change them and
// call WriteConf, or Reload, to change what it serves.
type Nginx struct {
	t       TB
	Bin     string
	Prefix  string
	Conf    string
	Servers []string
	Extra   string
	// WorkerConnections is the events {} limit; 0 means 64. A test that
	// connects to many servers at once raises it.
	WorkerConnections int
}

// NewNginx prepares an nginx under a new directory of t's; nothing runs
// until Start.
func NewNginx(t TB) *Nginx {
	t.Helper()
	return NewNginxAt(t, "", t.TempDir(), "")
}

// NewNginxAt prepares an nginx laid out the way a test's scene needs it:
// bin is the binary ("" for Debian's nginx; a panel's own path to it, say),
// prefix holds the pid file, logs and temporary files, conf is the main
// file ("" for prefix/nginx.conf). Nothing runs until Start.
func NewNginxAt(t TB, bin, prefix, conf string) *Nginx {
	t.Helper()
	if bin == "" {
		bin = MustNginxBinary(t)
	}
	if conf == "" {
		conf = filepath.Join(prefix, "nginx.conf")
	}
	if err := os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	return &Nginx{t: t, Bin: bin, Prefix: prefix, Conf: conf}
}

// WebrootServer is a plain-HTTP server block answering ACME challenges
// from dir on port.
func WebrootServer(port int, dir string) string {
	return fmt.Sprintf(`server { listen 127.0.0.1:%d;
    location /.well-known/acme-challenge/ { root %s; default_type text/plain; }
    location / { return 404; } }`, port, dir)
}

// ProxyChallengesServer is a plain-HTTP server block passing ACME
// challenges to upstream (host:port).
func ProxyChallengesServer(port int, upstream string) string {
	return fmt.Sprintf(`server { listen 127.0.0.1:%d;
    location /.well-known/acme-challenge/ { proxy_pass http://%s; proxy_set_header Host $host; }
    location / { return 404; } }`, port, upstream)
}

// TLSServer is an HTTPS server block for names with the given files;
// extra directives go into the same block (a second ssl_certificate and
// ssl_certificate_key, for one of another key type; ssl_protocols).
func TLSServer(port int, names []string, fullchain, key string, extra ...string) string {
	return TLSServerAt(fmt.Sprintf("127.0.0.1:%d", port), names, fullchain, key, extra...)
}

// TLSServerAt is TLSServer listening on addr (host:port).
func TLSServerAt(addr string, names []string, fullchain, key string, extra ...string) string {
	return fmt.Sprintf(`server { listen %s ssl; server_name %s;
    ssl_certificate %s; ssl_certificate_key %s; %s return 200 "ok\n"; }`, addr, strings.Join(names, " "), fullchain, key, strings.Join(extra, " "))
}

// WriteConf writes nginx.conf from Servers and Extra.
func (n *Nginx) WriteConf() {
	n.t.Helper()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read TempDir directories (0700)
	}
	conns := n.WorkerConnections
	if conns == 0 {
		conns = 64
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections %[5]d; }
http {
  access_log %[2]s/access.log;
  client_body_temp_path %[2]s/tmp/body; proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi; uwsgi_temp_path %[2]s/tmp/uwsgi; scgi_temp_path %[2]s/tmp/scgi;
%[3]s
%[4]s
}
`, user, n.Prefix, n.Extra, strings.Join(n.Servers, "\n"), conns)
	if err := os.MkdirAll(filepath.Dir(n.Conf), 0o755); err != nil {
		n.t.Fatalf("%v", err)
	}
	if err := os.WriteFile(n.Conf, []byte(conf), 0o644); err != nil {
		n.t.Fatalf("%v", err)
	}
}

// Argv is an nginx command line for this instance, for renewd's
// nginx.test and nginx.reload settings.
func (n *Nginx) Argv(extra ...string) []string {
	return append([]string{n.Bin, "-p", n.Prefix, "-c", n.Conf}, extra...)
}

// YAMLArgv renders argv as a YAML flow list, the form renewd.yaml takes
// a command line in.
func YAMLArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Start writes the configuration, runs nginx (it daemonizes, as under
// systemd) and waits for every one of ports to accept connections on
// 127.0.0.1. It is stopped when the test ends.
func (n *Nginx) Start(ports ...int) {
	n.t.Helper()
	addrs := make([]string, len(ports))
	for i, p := range ports {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	n.StartAt(addrs...)
}

// StartAt is Start waiting for addrs (host:port) instead.
func (n *Nginx) StartAt(addrs ...string) {
	n.t.Helper()
	n.WriteConf()
	if out, err := exec.Command(n.Bin, n.Argv()[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("start nginx: %v\n%s", err, out)
	}
	n.t.Cleanup(n.Stop)
	n.waitAddrs(addrs...)
}

// Reload writes the configuration, reloads nginx and waits for every one
// of ports (new servers, say) to accept connections.
func (n *Nginx) Reload(ports ...int) {
	n.t.Helper()
	n.WriteConf()
	if out, err := exec.Command(n.Bin, n.Argv("-s", "reload")[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("reload nginx: %v\n%s", err, out)
	}
	n.WaitPorts(ports...)
}

// WaitPorts waits for nginx to accept connections on every one of ports
// on 127.0.0.1, stopping the test with nginx's error log when one does not.
func (n *Nginx) WaitPorts(ports ...int) {
	n.t.Helper()
	addrs := make([]string, len(ports))
	for i, p := range ports {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	n.waitAddrs(addrs...)
}

func (n *Nginx) waitAddrs(addrs ...string) {
	n.t.Helper()
	for _, addr := range addrs {
		err := WaitFor("nginx on "+addr, 20*time.Second, func() error {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err != nil {
			data, _ := os.ReadFile(filepath.Join(n.Prefix, "error.log"))
			n.t.Fatalf("%v\n%s", err, data)
		}
	}
}

// Stop quits nginx and waits for its master to be gone. `nginx -s quit`
// reads the configuration first; when a test broke it, the master named
// in this instance's pid file gets SIGQUIT instead.
func (n *Nginx) Stop() {
	if err := exec.Command(n.Bin, n.Argv("-s", "quit")[1:]...).Run(); err != nil {
		if data, err := os.ReadFile(filepath.Join(n.Prefix, "nginx.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGQUIT)
			}
		}
	}
	_ = WaitFor("nginx exit", 10*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(n.Prefix, "nginx.pid")); err == nil {
			return fmt.Errorf("pid file still there")
		}
		return nil
	})
}

// Dial reports whether something accepts TCP connections on the loopback
// port.
func Dial(port int) error {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err == nil {
		c.Close()
	}
	return err
}
