package cluster

// Copied from test/e2e and cut down: one real nginx per node.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// nginxBinary finds Debian's nginx; its absence is a failure (scripts/deps.sh
// installs it).
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("nginx not found: install Debian's nginx (scripts/deps.sh does)")
	return ""
}

// nginx is one node's nginx: its own prefix, pid file and configuration,
// listening on the node's address only. nginx.conf includes extra.conf,
// which a scenario removes to make `nginx -t` fail on that node.
type nginx struct {
	t       *testing.T
	bin     string
	prefix  string
	conf    string
	extra   string
	servers []string
}

func newNginx(t *testing.T, prefix string) *nginx {
	t.Helper()
	n := &nginx{t: t, bin: nginxBinary(t), prefix: prefix}
	n.conf, n.extra = filepath.Join(prefix, "nginx.conf"), filepath.Join(prefix, "extra.conf")
	if err := os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.fixInclude()
	return n
}

// tls adds an HTTPS server for names on addr with the given files.
func (n *nginx) tls(addr string, names []string, fullchain, key string) {
	n.servers = append(n.servers, fmt.Sprintf(`server { listen %s ssl; server_name %s;
    ssl_certificate %s; ssl_certificate_key %s; return 200 "ok\n"; }`, addr, strings.Join(names, " "), fullchain, key))
}

// breakInclude removes the file nginx.conf includes: `nginx -t` fails.
func (n *nginx) breakInclude() {
	n.t.Helper()
	if err := os.Remove(n.extra); err != nil {
		n.t.Fatal(err)
	}
}

func (n *nginx) fixInclude() {
	n.t.Helper()
	if err := os.WriteFile(n.extra, []byte("# included by nginx.conf\n"), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

func (n *nginx) argv(extra ...string) []string {
	return append([]string{n.bin, "-p", n.prefix, "-c", n.conf}, extra...)
}

// start writes nginx.conf, runs nginx (it daemonizes) and waits for addr.
func (n *nginx) start(addr string) {
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
  access_log off;
  client_body_temp_path %[2]s/tmp/body; proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi; uwsgi_temp_path %[2]s/tmp/uwsgi; scgi_temp_path %[2]s/tmp/scgi;
  include %[3]s;
%[4]s
}
`, user, n.prefix, n.extra, strings.Join(n.servers, "\n"))
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		n.t.Fatal(err)
	}
	if out, err := exec.Command(n.bin, n.argv()[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("start nginx: %v\n%s", err, out)
	}
	n.t.Cleanup(n.stop)
	err := waitFor("nginx on "+addr, 20*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		data, _ := os.ReadFile(filepath.Join(n.prefix, "error.log"))
		n.t.Fatalf("%v\n%s", err, data)
	}
}

// stop quits this nginx (by its own pid file) and waits for it to go.
func (n *nginx) stop() {
	n.fixInclude() // -s quit parses the configuration too
	_ = exec.Command(n.bin, n.argv("-s", "quit")[1:]...).Run()
	_ = waitFor("nginx exit", 10*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(n.prefix, "nginx.pid")); err == nil {
			return fmt.Errorf("pid file still there")
		}
		return nil
	})
}

// writePlaceholder writes a self-signed certificate, as a fresh server has
// before its first real one, so nginx can start.
func writePlaceholder(t *testing.T, fullchain, key string) {
	t.Helper()
	if err := testpki.New(t, time.Now()).PlaceholderFiles(fullchain, key); err != nil {
		t.Fatal(err)
	}
}
