//go:build bench

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// client is one ACME client under test: it gets its own account, its own
// N certificates (names of its own), and the same Pebble, through a proxy
// of its own.
type client interface {
	// Setup writes the client's configuration for n certificates ordered
	// from the directory at dirURL.
	Setup(c *ca, dirURL, dir string, n int)
	// Issue obtains all n certificates.
	Issue() (Usage, error)
	// Renew renews all n certificates now, whether due or not.
	Renew() (Usage, error)
	// Leaves are the PEM files whose first certificate is each leaf.
	Leaves() []string
}

const procTimeout = 30 * time.Minute

func domainsFor(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d-%04d.bench.test", prefix, n, i+1)
	}
	return out
}

// renewd: one config, one domains.d file per certificate, its own HTTP-01
// responder on Pebble's httpPort shared by all orders; no deploy section
// (lego and certbot deploy nothing either). acme and global are more
// renewd.yaml lines, inside acme: and at the top level; empty for the
// binary's defaults.
type renewdClient struct {
	bin, dir, config, storage, log string
	acme, global                   string
	names                          []string
	timeout                        time.Duration // 0: procTimeout
}

func (r *renewdClient) Setup(c *ca, dirURL, dir string, n int) {
	r.dir, r.config, r.storage, r.log = dir, filepath.Join(dir, "renewd.yaml"), filepath.Join(dir, "storage"), filepath.Join(dir, "renewd.log")
	mustWrite(r.config, []byte(fmt.Sprintf(`storage: %s
acme:
  directory: %s
  email: bench-renewd@example.com
  ca_certificates: [%s]
%strust:
  extra_roots: [%s]
%s`, r.storage, dirURL, c.tlsCA, r.acme, c.rootFile, r.global)), 0o644)
	r.names = nil
	prefix := strings.TrimPrefix(filepath.Base(r.bin), "renewd")
	for i, d := range domainsFor("r"+strings.TrimPrefix(prefix, "-")+"-", n) {
		name := fmt.Sprintf("c%04d", i+1)
		r.names = append(r.names, name)
		mustWrite(filepath.Join(dir, "domains.d", name+".yaml"), certYAML(d, c.httpPort), 0o644)
	}
}

func (r *renewdClient) cmd(args ...string) (Usage, error) {
	timeout := r.timeout
	if timeout == 0 {
		timeout = procTimeout
	}
	return run(r.log, []string{"RENEWD_CONFIG="}, timeout, r.bin, append([]string{"--config", r.config}, args...)...)
}

func (r *renewdClient) Issue() (Usage, error) { return r.cmd("renew") }

func (r *renewdClient) Renew() (Usage, error) { return r.cmd("renew", "--now") }

func (r *renewdClient) Leaves() []string {
	var out []string
	for _, n := range r.names {
		out = append(out, filepath.Join(r.storage, "live", n, "cert.pem"))
	}
	return out
}

// lego's CLI: one process per certificate, as a cron job or a shell loop
// over `lego renew` runs it; its built-in HTTP-01 server on Pebble's
// httpPort. Renewal is forced with --days 10000 (every 90-day certificate
// has fewer days left) and --ari-disable (otherwise the CA's renewal window
// says "not yet"); --no-random-sleep drops lego's deliberate delay.
type legoClient struct {
	bin, path, log, server, tlsCA string
	port                          int
	domains                       []string
}

func (l *legoClient) Setup(c *ca, dirURL, dir string, n int) {
	l.path, l.log, l.server, l.tlsCA, l.port = filepath.Join(dir, "lego"), filepath.Join(dir, "lego.log"), dirURL, c.tlsCA, c.httpPort
	l.domains = domainsFor("l", n)
}

func (l *legoClient) cmd(domain string, args ...string) (Usage, error) {
	global := []string{"--server", l.server, "--path", l.path, "--accept-tos", "--email", "bench-lego@example.com",
		"--http", "--http.port", fmt.Sprintf("127.0.0.1:%d", l.port), "--domains", domain}
	return run(l.log, []string{"LEGO_CA_CERTIFICATES=" + l.tlsCA}, procTimeout, l.bin, append(global, args...)...)
}

// each runs one lego process per certificate with args.
func (l *legoClient) each(args ...string) (Usage, error) {
	var total Usage
	start := time.Now()
	var firstErr error
	for _, d := range l.domains {
		u, err := l.cmd(d, args...)
		total.add(u)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	total.WallS = time.Since(start).Seconds()
	return total, firstErr
}

func (l *legoClient) Issue() (Usage, error) { return l.each("run") }

func (l *legoClient) Renew() (Usage, error) {
	return l.each("renew", "--days", "10000", "--ari-disable", "--no-random-sleep")
}

func (l *legoClient) Leaves() []string {
	var out []string
	for _, d := range l.domains {
		out = append(out, filepath.Join(l.path, "certificates", d+".crt"))
	}
	return out
}

// certbot from Debian's packages: its standalone authenticator on Pebble's
// httpPort; one lineage per certificate, issued with one `certbot
// certonly` each, and renewed by one `certbot renew --force-renewal`, as
// the packaged timer runs it (less the random sleep).
type certbotClient struct {
	bin, dir, log, server, tlsCA string
	port                         int
	domains                      []string
}

func (c *certbotClient) Setup(ca *ca, dirURL, dir string, n int) {
	c.dir, c.log, c.server, c.tlsCA, c.port = filepath.Join(dir, "certbot"), filepath.Join(dir, "certbot.log"), dirURL, ca.tlsCA, ca.httpPort
	c.domains = domainsFor("c", n)
}

func (c *certbotClient) cmd(args ...string) (Usage, error) {
	dirs := []string{"--config-dir", filepath.Join(c.dir, "config"), "--work-dir", filepath.Join(c.dir, "work"),
		"--logs-dir", filepath.Join(c.dir, "logs"), "--non-interactive",
		"--http-01-port", fmt.Sprint(c.port), "--http-01-address", "127.0.0.1"}
	return run(c.log, []string{"REQUESTS_CA_BUNDLE=" + c.tlsCA}, procTimeout, c.bin, append(args, dirs...)...)
}

func (c *certbotClient) Issue() (Usage, error) {
	var total Usage
	for _, d := range c.domains {
		u, err := c.cmd("certonly", "--standalone", "--agree-tos", "-m", "bench-certbot@example.com", "--no-eff-email",
			"--server", c.server, "-d", d, "--cert-name", d)
		total.add(u)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (c *certbotClient) Renew() (Usage, error) {
	return c.cmd("renew", "--force-renewal", "--no-random-sleep-on-renew")
}

func (c *certbotClient) Leaves() []string {
	var out []string
	for _, d := range c.domains {
		out = append(out, filepath.Join(c.dir, "config", "live", d, "cert.pem"))
	}
	return out
}

// version runs a tool's version command and returns its first line.
func version(name string, args ...string) string {
	u, err := os.CreateTemp("", "bench-version-")
	if err != nil {
		return "?"
	}
	u.Close()
	defer os.Remove(u.Name())
	_, _ = run(u.Name(), nil, time.Minute, name, args...)
	lines := strings.Split(strings.TrimSpace(readFile(u.Name())), "\n")
	// run writes the command line first.
	if len(lines) > 1 {
		return strings.TrimSpace(lines[1])
	}
	return "?"
}
