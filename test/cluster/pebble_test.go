package cluster

// Copied from test/e2e and cut down: processes, free ports, challtestsrv
// and Pebble. The TLS test CA is testpki's.

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
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
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// testCA signs the HTTPS certificates of Pebble and the proxies,
// generated per run.
type testCA struct{ root *testpki.Cert }

// newTestCA makes the CA in TestMain, before any test runs: its builder
// panics on failure.
func newTestCA(cn string) *testCA {
	return &testCA{root: testpki.NewPanicking(time.Now()).LocalCA(cn)}
}

// issueServer writes a certificate and key for localhost/127.0.0.1 into dir.
func (ca *testCA) issueServer(dir string) (certFile, keyFile string, err error) {
	return testpki.NewPanicking(time.Now()).LocalServerFiles(ca.root, dir)
}

func httpsClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testpki.Pool(env.tls.root)}}}
}

// nodeIPs are the nodes' loopback addresses: a port used by a node must be
// free on all of them.
var nodeIPs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// freePort returns a port free right now on every node address that no
// other call returned (the kernel may hand the same port to two quick
// probes).
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if portsUsed[port] || !freeOnNodes(port) {
			continue
		}
		portsUsed[port] = true
		return port, nil
	}
	return 0, errors.New("no unused loopback port after 100 tries")
}

func freeOnNodes(port int) bool {
	for _, ip := range nodeIPs[1:] {
		l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// waitFor polls check until it returns nil or timeout passes: it waits on
// real processes doing their work, never on time passing in a test.
func waitFor(what string, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not reached after %s: %w", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// process is a started helper program whose output goes to a log file.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it exited
	err  error         // its exit, once done is closed
}

func startProcess(logFile string, envs []string, name string, args ...string) (*process, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
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
	p := &process{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// stop kills the process (only this one, by its pid) and waits for it.
func (p *process) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) output() string {
	data, _ := os.ReadFile(p.log)
	return string(data)
}

func (p *process) tail() string {
	s := p.output()
	if len(s) > 6000 {
		s = s[len(s)-6000:]
	}
	return s
}

// startChallTestSrv starts the DNS server Pebble resolves the test domains
// with. Names nobody added answer 127.0.0.254, where nothing listens: a
// scenario that forgets to point its domains at a node fails validation
// instead of passing through whichever node happens to answer.
func startChallTestSrv(dir string) (func(), error) {
	dnsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	mgmtPort, err := freePort()
	if err != nil {
		return nil, err
	}
	env.dnsAddr = fmt.Sprintf("127.0.0.1:%d", dnsPort)
	env.challMgmtURL = fmt.Sprintf("http://127.0.0.1:%d", mgmtPort)
	p, err := startProcess(filepath.Join(dir, "challtestsrv.log"), nil, filepath.Join(dir, "pebble-challtestsrv"),
		"-dnsserver", env.dnsAddr, "-management", fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-defaultIPv4", "127.0.0.254", "-defaultIPv6", "")
	if err != nil {
		return nil, err
	}
	err = waitFor("challtestsrv", 30*time.Second, func() error {
		return challPost("/clear-txt", map[string]any{"host": "ready.invalid."})
	})
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\n%s", err, p.tail())
	}
	return p.stop, nil
}

// challPost calls challtestsrv's management API.
func challPost(path string, body any) error {
	data, _ := json.Marshal(body)
	resp, err := http.Post(env.challMgmtURL+path, "application/json", bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("challtestsrv %s: %s %s", path, resp.Status, msg)
	}
	return nil
}

// pointAt makes every domain resolve to ip only: challtestsrv's add-a
// adds to what a name has, so clear-a first.
func pointAt(ip string, domains ...string) error {
	for _, d := range domains {
		host := strings.TrimSuffix(d, ".") + "."
		if err := challPost("/clear-a", map[string]any{"host": host}); err != nil {
			return err
		}
		if err := challPost("/add-a", map[string]any{"host": host, "addresses": []string{ip}}); err != nil {
			return err
		}
	}
	return nil
}

// pebble is the package's one Pebble.
type pebble struct {
	dirURL   string
	httpPort int // where Pebble sends HTTP-01 requests, on the address the domain resolves to
	rootFile string
	proc     *process
}

func startPebble(dir string) (*pebble, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certFile, keyFile, err := env.tls.issueServer(dir)
	if err != nil {
		return nil, err
	}
	var ports [4]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	pb := &pebble{httpPort: ports[0]}
	listen, mgmt := fmt.Sprintf("127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[2])
	pb.dirURL = "https://" + listen + "/dir"
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": pb.httpPort, "tlsPort": ports[3], "ocspResponderURL": "",
		"retryAfter": map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]any{
			"default": map[string]any{"description": "90 days", "validityPeriod": 7776000},
		},
	}}
	data, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, data, 0o644); err != nil {
		return nil, err
	}
	pb.proc, err = startProcess(filepath.Join(dir, "pebble.log"), []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0"},
		filepath.Join(env.dir, "pebble"), "-config", cfgFile, "-dnsserver", env.dnsAddr)
	if err != nil {
		return nil, err
	}
	client := httpsClient()
	err = waitFor("pebble", 60*time.Second, func() error {
		resp, err := client.Get(pb.dirURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if err != nil {
		pb.proc.stop()
		return nil, fmt.Errorf("%w\n%s", err, pb.proc.tail())
	}
	resp, err := client.Get("https://" + mgmt + "/roots/0")
	if err != nil {
		pb.proc.stop()
		return nil, err
	}
	root, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		pb.proc.stop()
		return nil, fmt.Errorf("pebble root: %s %v", resp.Status, err)
	}
	pb.rootFile = filepath.Join(dir, "pebble-roots.pem")
	return pb, os.WriteFile(pb.rootFile, root, 0o644)
}
