package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nginxBinary finds Debian's nginx. Its absence is a failure: .ci/run and
// `make test` install it, and a renewal daemon for nginx is not tested
// without one.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("nginx not found: install Debian's nginx (apt-get install nginx-light), as .ci/run does")
	return ""
}

// nginx is a real nginx with its own prefix, config and pid file, as a test
// (or a user) configures it. servers holds the server blocks.
type nginx struct {
	t       *testing.T
	bin     string
	prefix  string
	conf    string
	servers []string
	extra   string // more lines inside http {}, e.g. a broken include
	proc    *process
}

func newNginx(t *testing.T) *nginx {
	t.Helper()
	n := &nginx{t: t, bin: nginxBinary(t), prefix: t.TempDir()}
	n.conf = filepath.Join(n.prefix, "nginx.conf")
	if err := os.MkdirAll(filepath.Join(n.prefix, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	return n
}

// webroot adds a plain-HTTP server answering ACME challenges from dir.
func (n *nginx) webroot(port int, dir string) {
	n.servers = append(n.servers, fmt.Sprintf(`server { listen 127.0.0.1:%d;
    location /.well-known/acme-challenge/ { root %s; default_type text/plain; }
    location / { return 404; } }`, port, dir))
}

// proxyChallenges adds a plain-HTTP server passing ACME challenges to
// renewd's own responder, the README's "listen behind proxy_pass" setup.
func (n *nginx) proxyChallenges(port int, upstream string) {
	n.servers = append(n.servers, fmt.Sprintf(`server { listen 127.0.0.1:%d;
    location /.well-known/acme-challenge/ { proxy_pass http://%s; proxy_set_header Host $host; }
    location / { return 404; } }`, port, upstream))
}

// tls adds an HTTPS server for names with the given certificate files;
// extra directives go into the same server block (a second
// ssl_certificate and ssl_certificate_key, for one of another key type).
func (n *nginx) tls(port int, names []string, fullchain, key string, extra ...string) {
	n.servers = append(n.servers, fmt.Sprintf(`server { listen 127.0.0.1:%d ssl; server_name %s;
    ssl_certificate %s; ssl_certificate_key %s; %s return 200 "ok\n"; }`, port, strings.Join(names, " "), fullchain, key, strings.Join(extra, " ")))
}

func (n *nginx) writeConf() {
	n.t.Helper()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read t.TempDir() directories (0700)
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
  access_log %[2]s/access.log;
  client_body_temp_path %[2]s/tmp/body; proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi; uwsgi_temp_path %[2]s/tmp/uwsgi; scgi_temp_path %[2]s/tmp/scgi;
%[3]s
%[4]s
}
`, user, n.prefix, n.extra, strings.Join(n.servers, "\n"))
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// argv returns an nginx command line for this instance, for renewd's
// nginx.test and nginx.reload settings.
func (n *nginx) argv(extra ...string) []string {
	return append([]string{n.bin, "-p", n.prefix, "-c", n.conf}, extra...)
}

// yamlArgv renders argv as a YAML flow list.
func yamlArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// start runs nginx (it daemonizes, as it does under systemd) and waits for
// port to accept connections.
func (n *nginx) start(port int) {
	n.t.Helper()
	n.writeConf()
	if out, err := exec.Command(n.bin, n.argv()[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("start nginx: %v\n%s", err, out)
	}
	n.t.Cleanup(n.stop)
	if err := waitFor("nginx", 20*time.Second, func() error { return dial(port) }); err != nil {
		data, _ := os.ReadFile(filepath.Join(n.prefix, "error.log"))
		n.t.Fatalf("%v\n%s", err, data)
	}
}

// stop quits nginx and waits for its master to be gone.
func (n *nginx) stop() {
	_ = exec.Command(n.bin, n.argv("-s", "quit")[1:]...).Run()
	_ = waitFor("nginx exit", 10*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(n.prefix, "nginx.pid")); err == nil {
			return fmt.Errorf("pid file still there")
		}
		return nil
	})
}

func dial(port int) error {
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err == nil {
		c.Close()
	}
	return err
}

// startNginxWebroot runs nginx serving /.well-known/acme-challenge/ from
// webroot on port, the setup the README recommends for HTTP-01.
func startNginxWebroot(t *testing.T, port int, webroot string) *nginx {
	t.Helper()
	n := newNginx(t)
	n.webroot(port, webroot)
	n.start(port)
	return n
}
