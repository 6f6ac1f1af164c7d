package takeover

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// What follows is the part of test/e2e's harness these tests need.

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// freePort returns a loopback port nothing listens on now and that no
// other call in this process returned.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := freePortNoT()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func freePortNoT() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsUsed[port] {
			portsUsed[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no unused loopback port after 100 tries")
}

// waitFor polls check until it returns nil or timeout passes: it waits on
// a real process coming up, not on time passing.
func waitFor(what string, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// process is a started helper program whose output goes to a log file.
type process struct {
	cmd *exec.Cmd
	log string
}

func startProcess(logFile string, envs []string, name string, args ...string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), envs...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { _ = cmd.Wait(); f.Close() }()
	return &process{cmd: cmd, log: logFile}, nil
}

func (p *process) stop() { _ = p.cmd.Process.Kill() }

func (p *process) tail() string {
	data, _ := os.ReadFile(p.log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

func startChallTestSrv(dir string) (func(), error) {
	dnsPort, err := freePortNoT()
	if err != nil {
		return nil, err
	}
	mgmtPort, err := freePortNoT()
	if err != nil {
		return nil, err
	}
	env.dnsAddr = fmt.Sprintf("127.0.0.1:%d", dnsPort)
	env.challMgmtURL = fmt.Sprintf("http://127.0.0.1:%d", mgmtPort)
	p, err := startProcess(filepath.Join(dir, "challtestsrv.log"), nil, filepath.Join(env.bin, "pebble-challtestsrv"),
		"-dnsserver", env.dnsAddr, "-management", fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	if err != nil {
		return nil, err
	}
	err = waitFor("challtestsrv", 30*time.Second, func() error {
		resp, err := http.Post(env.challMgmtURL+"/clear-txt", "application/json", strings.NewReader(`{"host":"ready.invalid."}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\n%s", err, p.tail())
	}
	return p.stop, nil
}

// httpsClient trusts the test CA that signed Pebble's HTTPS certificate.
func httpsClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testpki.Pool(env.tls.root)}}}
}

// pebble is one running Pebble.
type pebble struct {
	dirURL, mgmtURL string
	// httpPort is where Pebble sends HTTP-01 validation requests.
	httpPort int
	rootFile string // Pebble's root, for trust.extra_roots
	proc     *process
}

func startPebble(t *testing.T) *pebble {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, err := env.tls.issueServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	pb := &pebble{httpPort: freePort(t)}
	listen, mgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pb.dirURL, pb.mgmtURL = "https://"+listen+"/dir", "https://"+mgmt
	data, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": pb.httpPort, "tlsPort": freePort(t), "ocspResponderURL": "",
		"retryAfter": map[string]int{"authz": 1, "order": 1},
		"profiles":   map[string]any{"default": map[string]any{"description": "90 days", "validityPeriod": 7776000}},
	}})
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Nonce rejection off: certbot and renewd both retry a bad nonce, but
	// these tests count orders, not retries.
	pb.proc, err = startProcess(filepath.Join(dir, "pebble.log"), []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0", "PEBBLE_WFE_NONCEREJECT=0"},
		filepath.Join(env.bin, "pebble"), "-config", cfgFile, "-dnsserver", env.dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pb.proc.stop()
		if t.Failed() {
			t.Logf("pebble log:\n%s", pb.proc.tail())
		}
	})
	client := httpsClient()
	if err := waitFor("pebble", 30*time.Second, func() error {
		resp, err := client.Get(pb.dirURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, pb.proc.tail())
	}
	pb.rootFile = filepath.Join(dir, "pebble-root.pem")
	if err := os.WriteFile(pb.rootFile, pb.get(t, "/roots/0"), 0o644); err != nil {
		t.Fatal(err)
	}
	return pb
}

func (pb *pebble) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := httpsClient().Get(pb.mgmtURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return body
}

// orders counts the orders Pebble accepted, from its log.
func (pb *pebble) orders(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(pb.proc.log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "Added order")
}

// setRenewalInfo makes Pebble suggest renewing leaf in a window that has
// already started (POST /set-renewal-info/): the certificate is due.
func (pb *pebble) dueNow(t *testing.T, leaf *x509.Certificate) {
	t.Helper()
	start, end := time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	body, _ := json.Marshal(map[string]string{
		"Certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		"ARIResponse": fmt.Sprintf(`{"suggestedWindow": {"start": %q, "end": %q}}`, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)),
	})
	resp, err := httpsClient().Post(pb.mgmtURL+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if msg, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("set-renewal-info: %d %s", resp.StatusCode, msg)
	}
}

// nginxBinary finds Debian's nginx; its absence is a failure.
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

// nginx is a real nginx with its own main file, pid file and logs.
type nginx struct {
	t      *testing.T
	bin    string
	prefix string
	conf   string // the main file
	http   string // what goes inside http {}
}

func newNginx(t *testing.T, bin, prefix, conf string) *nginx {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &nginx{t: t, bin: bin, prefix: prefix, conf: conf}
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
}
`, user, n.prefix, n.http)
	if err := os.MkdirAll(filepath.Dir(n.conf), 0o755); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

// argv is a command line for this nginx: the test and reload commands
// renewd runs.
func (n *nginx) argv(extra ...string) []string {
	return append([]string{n.bin, "-p", n.prefix, "-c", n.conf}, extra...)
}

// start writes the configuration, runs nginx and waits for port.
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

// reload rewrites the configuration and reloads nginx.
func (n *nginx) reload() {
	n.t.Helper()
	n.writeConf()
	if out, err := exec.Command(n.bin, n.argv("-s", "reload")[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("reload nginx: %v\n%s", err, out)
	}
}

func (n *nginx) stop() {
	_ = exec.Command(n.bin, n.argv("-s", "quit")[1:]...).Run()
	_ = waitFor("nginx exit", 10*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(n.prefix, "nginx.pid")); err == nil {
			return errors.New("pid file still there")
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

func webrootServer(port int, dir string) string {
	return fmt.Sprintf(`server { listen 127.0.0.1:%d;
    location /.well-known/acme-challenge/ { root %s; default_type text/plain; }
    location / { return 404; } }
`, port, dir)
}

func tlsServer(port int, names, fullchain, key string) string {
	return fmt.Sprintf(`server { listen 127.0.0.1:%d ssl; server_name %s;
    ssl_certificate %s;
    ssl_certificate_key %s;
    return 200 "ok\n"; }
`, port, names, fullchain, key)
}

// yamlArgv renders argv as a YAML flow list.
func yamlArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// workspace is one user's renewd setup.
type workspace struct {
	t       *testing.T
	dir     string
	config  string
	storage string
	domains string
	env     []string
}

// newWorkspace writes renewd.yaml for a Pebble (nil: a CA that is never
// asked), extra trusted roots and nginx lines (YAML under nginx:).
func newWorkspace(t *testing.T, pb *pebble, roots []string, nginxYAML string) *workspace {
	t.Helper()
	dir := t.TempDir()
	w := &workspace{t: t, dir: dir, config: filepath.Join(dir, "renewd.yaml"), storage: filepath.Join(dir, "storage"), domains: filepath.Join(dir, "domains.d")}
	if err := os.MkdirAll(w.domains, 0o755); err != nil {
		t.Fatal(err)
	}
	directory := "https://127.0.0.1:1/dir"
	if pb != nil {
		directory = pb.dirURL
		roots = append(roots, pb.rootFile)
	}
	yaml := fmt.Sprintf("storage: %s\nacme:\n  directory: %s\n  email: takeover@example.com\n  ca_certificates: [%s]\n  profile: default\ntrust:\n  extra_roots: [%s]\nnginx:\n%s",
		w.storage, directory, env.tlsCAFile, strings.Join(roots, ", "), nginxYAML)
	if err := os.WriteFile(w.config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// result of one renewd invocation.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func (w *workspace) renewd(args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.renewd, append([]string{"--config", w.config}, args...)...)
	cmd.Env = append(append(os.Environ(), "RENEWD_CONFIG="), w.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		w.t.Fatalf("run renewd: %v", err)
	}
	return res
}

func (w *workspace) must(args ...string) result {
	w.t.Helper()
	res := w.renewd(args...)
	if res.code != 0 {
		w.t.Fatalf("renewd %v: %s", args, res)
	}
	return res
}

// status is `renewd status --json`, by certificate name.
func (w *workspace) status() map[string]map[string]any {
	w.t.Helper()
	res := w.must("status", "--json")
	var out struct {
		Certificates []map[string]any `json:"certificates"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		w.t.Fatalf("status --json: %v\n%s", err, res.stdout)
	}
	m := map[string]map[string]any{}
	for _, c := range out.Certificates {
		m[c["name"].(string)] = c
	}
	return m
}

// served returns the certificates a TLS server sends for sni.
func served(t *testing.T, port int, sni string) []*x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{ServerName: sni, InsecureSkipVerify: true}) //nolint:gosec // verified by the caller
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates
}

// readCert parses the first certificate of a PEM file.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
