package clients

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nginx is one real nginx serving every scenario, with its own prefix,
// configuration and pid file.
type nginx struct {
	bin    string
	prefix string
	conf   string
}

// nginxBinary finds Debian's nginx; its absence fails the test.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("nginx not found: run scripts/deps.sh (apt-get install nginx-light)")
	return ""
}

// startNginx writes a configuration with one server block per entry of
// servers and starts nginx; it stops when the test ends.
func startNginx(t *testing.T, servers []string, ports []int) *nginx {
	t.Helper()
	n := &nginx{bin: nginxBinary(t), prefix: t.TempDir()}
	n.conf = filepath.Join(n.prefix, "nginx.conf")
	if err := os.MkdirAll(filepath.Join(n.prefix, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read t.TempDir() directories (0700)
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log notice;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[2]s/tmp/body; proxy_temp_path %[2]s/tmp/proxy;
  fastcgi_temp_path %[2]s/tmp/fastcgi; uwsgi_temp_path %[2]s/tmp/uwsgi; scgi_temp_path %[2]s/tmp/scgi;
%[3]s
}
`, user, n.prefix, strings.Join(servers, "\n"))
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(n.bin, "-p", n.prefix, "-c", n.conf).CombinedOutput(); err != nil {
		t.Fatalf("start nginx: %v\n%s", err, out)
	}
	t.Cleanup(n.stop)
	for _, port := range ports {
		if err := waitListening(port, 20*time.Second); err != nil {
			data, _ := os.ReadFile(filepath.Join(n.prefix, "error.log"))
			t.Fatalf("%v\n%s", err, data)
		}
	}
	return n
}

// stop quits nginx and waits for its pid file to go.
func (n *nginx) stop() {
	_ = exec.Command(n.bin, "-p", n.prefix, "-c", n.conf, "-s", "quit").Run()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(n.prefix, "nginx.pid")); errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitListening polls until something accepts connections on port.
func waitListening(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx does not listen on %d after %s: %w", port, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// They are all held open until every one is picked, so none repeats.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var (
		ports []int
		lns   []net.Listener
	)
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
