package e2e

import (
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

// freePort returns a loopback port nothing listens on right now, and that
// no other call in this test process returned: the kernel may hand the same
// ephemeral port to two quick listen-and-close probes (seen: Pebble's
// listen and management ports equal), and tests run in parallel.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := freePortNoT()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

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

// httpsClient trusts the e2e TLS CA (Pebble's and the proxy's endpoints).
func httpsClient() *http.Client {
	pool := testpki.Pool(env.tls.root)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// waitFor polls check until it returns nil or the deadline passes. It
// waits on a real process coming up, not on time passing in a test.
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

// startChallTestSrv starts the shared DNS server that answers A queries
// with 127.0.0.1 and serves TXT records set through its management API.
// Its HTTP-01/TLS-ALPN/DoH servers are off: renewd answers HTTP-01 itself.
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

// pebbleOpts are the knobs a test turns.
type pebbleOpts struct {
	chainLength    int // PEBBLE_CHAIN_LENGTH; 0 = Pebble's default
	alternateRoots int // PEBBLE_ALTERNATE_ROOTS
	nonceReject    int // PEBBLE_WFE_NONCEREJECT percentage; 0 = Pebble's default
	// eab makes Pebble require External Account Binding with the key
	// eabKID/eabHMAC, as ZeroSSL and Google Trust Services do.
	eab bool
}

// The EAB key Pebble knows when pebbleOpts.eab is set.
const (
	eabKID  = "kid-renewd"
	eabHMAC = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
)

// pebble is one running Pebble.
type pebble struct {
	dirURL  string // ACME directory
	mgmtURL string // management API (roots, intermediates, ARI)
	// httpPort is where Pebble sends HTTP-01 validation requests: renewd's
	// listen address or nginx must be on 127.0.0.1:httpPort.
	httpPort int
	roots    [][]byte // PEM of every root, alternates included
	rootFile string   // all roots in one file, for trust.extra_roots
	proc     *process
}

func startPebble(t *testing.T, o pebbleOpts) *pebble {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, err := env.tls.issueServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	pb := &pebble{httpPort: freePort(t)}
	listen, mgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pb.dirURL, pb.mgmtURL = "https://"+listen+"/dir", "https://"+mgmt
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": pb.httpPort, "tlsPort": freePort(t),
		"ocspResponderURL": "", "externalAccountBindingRequired": o.eab,
		"externalAccountMACKeys": map[string]string{eabKID: eabHMAC},
		"retryAfter":             map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]any{
			"default":    map[string]any{"description": "90 days", "validityPeriod": 7776000},
			"shortlived": map[string]any{"description": "6 days", "validityPeriod": 518400},
		},
	}}
	data, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	envs := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0"}
	if o.chainLength > 0 {
		envs = append(envs, fmt.Sprintf("PEBBLE_CHAIN_LENGTH=%d", o.chainLength))
	}
	envs = append(envs, fmt.Sprintf("PEBBLE_ALTERNATE_ROOTS=%d", o.alternateRoots))
	if o.nonceReject > 0 {
		envs = append(envs, fmt.Sprintf("PEBBLE_WFE_NONCEREJECT=%d", o.nonceReject))
	}
	pb.proc, err = startProcess(filepath.Join(dir, "pebble.log"), envs, filepath.Join(env.bin, "pebble"),
		"-config", cfgFile, "-dnsserver", env.dnsAddr)
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
	err = waitFor("pebble", 30*time.Second, func() error {
		resp, err := client.Get(pb.dirURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, pb.proc.tail())
	}
	var all []byte
	for i := 0; i <= o.alternateRoots; i++ {
		root := pb.get(t, fmt.Sprintf("/roots/%d", i))
		pb.roots = append(pb.roots, root)
		all = append(all, root...)
	}
	pb.rootFile = filepath.Join(dir, "pebble-roots.pem")
	if err := os.WriteFile(pb.rootFile, all, 0o644); err != nil {
		t.Fatal(err)
	}
	return pb
}

// get fetches a path from Pebble's management API.
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

func parseRoots(t *testing.T, pb *pebble) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, p := range pb.roots {
		block, _ := pem.Decode(p)
		if block == nil {
			t.Fatal("pebble root is not PEM")
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}
