package harness

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ChallTestSrv is a running pebble-challtestsrv: a DNS server answering A
// queries with 127.0.0.1 and TXT records set through its management API.
// Its HTTP-01, TLS-ALPN and DoH servers are off: clients under test answer
// HTTP-01 themselves.
type ChallTestSrv struct {
	DNSAddr string // 127.0.0.1:port
	MgmtURL string // management API
	Proc    *Process
}

// StartChallTestSrv starts bin (the pebble-challtestsrv binary) with its
// log in dir and waits for it to answer.
func StartChallTestSrv(bin, dir string) (*ChallTestSrv, error) {
	return StartChallTestSrvDefault(bin, dir, "127.0.0.1")
}

// StartChallTestSrvDefault is StartChallTestSrv with names nobody pointed
// anywhere (PointAt) resolving to defaultIPv4: 127.0.0.254, where nothing
// listens, makes a test that forgets to point a name fail validation
// instead of passing through whatever answers on 127.0.0.1.
func StartChallTestSrvDefault(bin, dir, defaultIPv4 string) (*ChallTestSrv, error) {
	dnsPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	mgmtPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	c := &ChallTestSrv{DNSAddr: fmt.Sprintf("127.0.0.1:%d", dnsPort), MgmtURL: fmt.Sprintf("http://127.0.0.1:%d", mgmtPort)}
	c.Proc, err = StartProcess(filepath.Join(dir, "challtestsrv.log"), nil, bin,
		"-dnsserver", c.DNSAddr, "-management", fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-defaultIPv4", defaultIPv4, "-defaultIPv6", "")
	if err != nil {
		return nil, err
	}
	err = WaitFor("challtestsrv", 30*time.Second, func() error {
		resp, err := http.Post(c.MgmtURL+"/clear-txt", "application/json", strings.NewReader(`{"host":"ready.invalid."}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	if err != nil {
		c.Proc.Stop()
		return nil, fmt.Errorf("%w\n%s", err, c.Proc.Tail())
	}
	return c, nil
}

// PointAt makes each domain resolve to ip alone (add-a adds to what a
// name has, so clear-a first): the CA validates there.
func (c *ChallTestSrv) PointAt(ip string, domains ...string) error {
	for _, d := range domains {
		host := strings.TrimSuffix(d, ".") + "."
		for _, call := range []struct {
			path string
			body any
		}{{"/clear-a", map[string]any{"host": host}}, {"/add-a", map[string]any{"host": host, "addresses": []string{ip}}}} {
			data, _ := json.Marshal(call.body)
			resp, err := http.Post(c.MgmtURL+call.path, "application/json", bytes.NewReader(data))
			if err != nil {
				return err
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("challtestsrv %s %s: %s %s", call.path, host, resp.Status, msg)
			}
		}
	}
	return nil
}

// PebbleOptions are the knobs of one Pebble.
type PebbleOptions struct {
	// Bin is the pebble binary.
	Bin string
	// TLS signs Pebble's HTTPS certificate.
	TLS *TLSCA
	// DNSAddr is the resolver Pebble validates with (challtestsrv).
	DNSAddr string
	// ChainLength is PEBBLE_CHAIN_LENGTH; 0 is Pebble's default.
	ChainLength int
	// AlternateRoots is PEBBLE_ALTERNATE_ROOTS.
	AlternateRoots int
	// NonceReject is PEBBLE_WFE_NONCEREJECT, the percentage of good nonces
	// refused; -1 is Pebble's default (5), 0 none.
	NonceReject int
	// EAB makes Pebble require External Account Binding with the key
	// EABKID/EABHMAC, as ZeroSSL and Google Trust Services do.
	EAB bool
	// HTTPIPs are more loopback addresses (127.0.0.2, ...) Pebble's
	// HTTP-01 port must be free on: a cluster's nodes answer there.
	HTTPIPs []string
	// Profiles are Pebble's profiles by name, each a validity in seconds;
	// nil means "default" (90 days) and "shortlived" (6 days).
	Profiles map[string]int
}

// The External Account Binding key Pebble knows when PebbleOptions.EAB is
// set.
const (
	EABKID  = "kid-renewd"
	EABHMAC = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
)

// Pebble is one running Pebble, with PEBBLE_VA_NOSLEEP=1 (validation at
// once), no authorization reuse, and Retry-After 1 s on authorizations and
// orders.
type Pebble struct {
	DirURL  string // ACME directory
	MgmtURL string // management API (roots, intermediates, ARI)
	// HTTPPort is where Pebble sends HTTP-01 validation requests: the
	// client's responder must listen on 127.0.0.1:HTTPPort.
	HTTPPort int
	Roots    [][]byte // PEM of every root, alternates included
	RootFile string   // all roots in one file, for trust.extra_roots
	Proc     *Process
	tls      *TLSCA
}

// StartPebble starts a Pebble with its files in a new directory of t's,
// waits for its directory to answer and fetches its roots. It is stopped
// when t ends.
func StartPebble(t TB, o PebbleOptions) *Pebble {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, err := o.TLS.IssueServer(dir)
	if err != nil {
		t.Fatalf("pebble TLS certificate: %v", err)
	}
	httpPort, err := FreePortOn(o.HTTPIPs...)
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	pb := &Pebble{HTTPPort: httpPort, tls: o.TLS}
	listen, mgmt := fmt.Sprintf("127.0.0.1:%d", MustFreePort(t)), fmt.Sprintf("127.0.0.1:%d", MustFreePort(t))
	pb.DirURL, pb.MgmtURL = "https://"+listen+"/dir", "https://"+mgmt
	profiles := o.Profiles
	if profiles == nil {
		profiles = map[string]int{"default": 7776000, "shortlived": 518400}
	}
	pcfg := map[string]any{}
	for name, secs := range profiles {
		pcfg[name] = map[string]any{"description": fmt.Sprintf("%d s", secs), "validityPeriod": secs}
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": pb.HTTPPort, "tlsPort": MustFreePort(t),
		"ocspResponderURL": "", "externalAccountBindingRequired": o.EAB,
		"externalAccountMACKeys": map[string]string{EABKID: EABHMAC},
		"retryAfter":             map[string]int{"authz": 1, "order": 1},
		"profiles":               pcfg,
	}}
	data, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, data, 0o644); err != nil {
		t.Fatalf("%v", err)
	}
	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0", fmt.Sprintf("PEBBLE_ALTERNATE_ROOTS=%d", o.AlternateRoots)}
	if o.ChainLength > 0 {
		env = append(env, fmt.Sprintf("PEBBLE_CHAIN_LENGTH=%d", o.ChainLength))
	}
	if o.NonceReject >= 0 {
		env = append(env, fmt.Sprintf("PEBBLE_WFE_NONCEREJECT=%d", o.NonceReject))
	}
	pb.Proc, err = StartProcess(filepath.Join(dir, "pebble.log"), env, o.Bin, "-config", cfgFile, "-dnsserver", o.DNSAddr)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		pb.Proc.Stop()
		if t.Failed() {
			t.Logf("pebble log:\n%s", pb.Proc.Tail())
		}
	})
	client := o.TLS.Client()
	if err := WaitFor("pebble", 30*time.Second, func() error {
		resp, err := client.Get(pb.DirURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, pb.Proc.Tail())
	}
	var all []byte
	for i := 0; i <= o.AlternateRoots; i++ {
		root := pb.Get(t, fmt.Sprintf("/roots/%d", i))
		pb.Roots = append(pb.Roots, root)
		all = append(all, root...)
	}
	pb.RootFile = filepath.Join(dir, "pebble-roots.pem")
	if err := os.WriteFile(pb.RootFile, all, 0o644); err != nil {
		t.Fatalf("%v", err)
	}
	return pb
}

// Orders counts the orders Pebble accepted so far, from its log: a test
// proves that a step placed no order, or exactly one.
func (pb *Pebble) Orders(t TB) int {
	t.Helper()
	data, err := os.ReadFile(pb.Proc.Log)
	if err != nil {
		t.Fatalf("pebble log: %v", err)
	}
	return strings.Count(string(data), "Added order")
}

// SetRenewalInfo makes Pebble answer ariResponse, verbatim, to
// renewalInfo requests for leaf (POST /set-renewal-info/ on the management
// API).
func (pb *Pebble) SetRenewalInfo(t TB, leaf *x509.Certificate, ariResponse string) {
	t.Helper()
	body, err := json.Marshal(map[string]string{
		"Certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		"ARIResponse": ariResponse,
	})
	if err != nil {
		t.Fatalf("%v", err)
	}
	resp, err := pb.tls.Client().Post(pb.MgmtURL+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("set-renewal-info: %v", err)
	}
	defer resp.Body.Close()
	if msg, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("set-renewal-info: %d %s", resp.StatusCode, msg)
	}
}

// Get fetches a path from Pebble's management API.
func (pb *Pebble) Get(t TB, path string) []byte {
	t.Helper()
	resp, err := pb.tls.Client().Get(pb.MgmtURL + path)
	if err != nil {
		t.Fatalf("pebble GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble GET %s: %d %v", path, resp.StatusCode, err)
	}
	return body
}
