package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// startNginxWebroot runs a real nginx on 127.0.0.1:port with its own prefix
// and pid file, serving /.well-known/acme-challenge/ from webroot, the
// setup the README recommends for HTTP-01 behind nginx.
func startNginxWebroot(t *testing.T, port int, webroot string) {
	t.Helper()
	bin := nginxBinary(t)
	prefix := t.TempDir()
	if err := os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		// Workers must read t.TempDir() directories, which are 0700.
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
  access_log %[2]s/access.log;
  client_body_temp_path %[2]s/tmp/body;
  proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi;
  uwsgi_temp_path %[2]s/tmp/uwsgi;
  scgi_temp_path %[2]s/tmp/scgi;
  server {
    listen 127.0.0.1:%[3]d;
    location /.well-known/acme-challenge/ { root %[4]s; default_type text/plain; }
    location / { return 404; }
  }
}
`, user, prefix, port, webroot)
	confFile := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := startProcess(filepath.Join(prefix, "stderr.log"), nil, bin, "-p", prefix, "-c", confFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	err = waitFor("nginx", 20*time.Second, func() error {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		data, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		t.Fatalf("%v\n%s\n%s", err, p.tail(), data)
	}
}
