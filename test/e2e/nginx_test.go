package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/renewd/renewd/test/harness"
)

// nginxBinary finds Debian's nginx. Its absence is a failure: .ci/run and
// `make test` install it, and a renewal daemon for nginx is not tested
// without one.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if bin := harness.NginxBinary(); bin != "" {
		return bin
	}
	t.Fatal("nginx not found: install Debian's nginx (apt-get install nginx-light), as .ci/run does")
	return ""
}

// nginx is a real nginx with its own prefix, config and pid file, as a test
// (or a user) configures it (harness.Nginx). servers holds the server
// blocks; tests change servers and extra and call writeConf.
type nginx struct {
	t       *testing.T
	h       *harness.Nginx
	bin     string
	prefix  string
	conf    string
	servers []string
	extra   string // more lines inside http {}, e.g. a broken include
	proc    *process
}

func newNginx(t *testing.T) *nginx {
	t.Helper()
	nginxBinary(t)
	h := harness.NewNginx(t)
	return &nginx{t: t, h: h, bin: h.Bin, prefix: h.Prefix, conf: h.Conf}
}

// webroot adds a plain-HTTP server answering ACME challenges from dir.
func (n *nginx) webroot(port int, dir string) {
	n.servers = append(n.servers, harness.WebrootServer(port, dir))
}

// proxyChallenges adds a plain-HTTP server passing ACME challenges to
// renewd's own responder, the README's "listen behind proxy_pass" setup.
func (n *nginx) proxyChallenges(port int, upstream string) {
	n.servers = append(n.servers, harness.ProxyChallengesServer(port, upstream))
}

// tls adds an HTTPS server for names with the given certificate files;
// extra directives go into the same server block (a second
// ssl_certificate and ssl_certificate_key, for one of another key type).
func (n *nginx) tls(port int, names []string, fullchain, key string, extra ...string) {
	n.servers = append(n.servers, harness.TLSServer(port, names, fullchain, key, extra...))
}

func (n *nginx) sync() { n.h.Servers, n.h.Extra = n.servers, n.extra }

func (n *nginx) writeConf() {
	n.t.Helper()
	n.sync()
	n.h.WriteConf()
}

// argv returns an nginx command line for this instance, for renewd's
// nginx.test and nginx.reload settings.
func (n *nginx) argv(extra ...string) []string { return n.h.Argv(extra...) }

// yamlArgv renders argv as a YAML flow list.
func yamlArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// start runs nginx (it daemonizes, as it does under systemd) and waits for
// port to accept connections.
func (n *nginx) start(port int) {
	n.t.Helper()
	n.sync()
	n.h.Start(port)
}

// stop quits nginx and waits for its master to be gone.
func (n *nginx) stop() { n.h.Stop() }

func dial(port int) error { return harness.Dial(port) }

// startNginxWebroot runs nginx serving /.well-known/acme-challenge/ from
// webroot on port, the setup the README recommends for HTTP-01.
func startNginxWebroot(t *testing.T, port int, webroot string) *nginx {
	t.Helper()
	n := newNginx(t)
	n.webroot(port, webroot)
	n.start(port)
	return n
}
