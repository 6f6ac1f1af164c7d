//go:build bench

package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/renewd/renewd/internal/testpki"
)

// freePort returns a loopback port nothing listens on right now.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newTestCA makes a throwaway root, valid from an hour ago for a year: it
// signs Pebble's HTTPS certificate, and, for the generated states, the
// intermediate of the certificates renewd's idle daemon holds. testpki
// panics if it cannot, which ends the run as fatalf would.
func newTestCA(cn string) *testpki.Cert {
	now := time.Now()
	return testpki.NewPanicking(now).Root(testpki.CN(cn), testpki.Serial(1), testpki.KeyUsage(x509.KeyUsageCertSign),
		testpki.Validity(now.Add(-time.Hour), now.Add(365*24*time.Hour)))
}

// issueServer writes an HTTPS certificate for localhost/127.0.0.1, valid
// for a week, under ca into dir.
func issueServer(ca *testpki.Cert, dir, prefix string) (certFile, keyFile string) {
	now := time.Now()
	c := testpki.NewPanicking(now).Issue(ca, testpki.CN("localhost"), testpki.Names("localhost"),
		testpki.IPs(testpki.IP("127.0.0.1")), testpki.Validity(now.Add(-time.Hour), now.Add(7*24*time.Hour)))
	certFile, keyFile = filepath.Join(dir, prefix+"-cert.pem"), filepath.Join(dir, prefix+"-key.pem")
	mustWrite(certFile, testpki.PEM(c), 0o644)
	mustWrite(keyFile, c.KeyPEM(), 0o600)
	return certFile, keyFile
}

// daemonProc is a long-running helper (Pebble, challtestsrv).
type daemonProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startDaemon(logFile string, envs []string, name string, args ...string) *daemonProc {
	f, err := os.Create(logFile)
	if err != nil {
		fatalf("%v", err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), envs...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		fatalf("start %s: %v", name, err)
	}
	p := &daemonProc{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p
}

func (p *daemonProc) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *daemonProc) tail() string {
	data, _ := os.ReadFile(p.log)
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

func waitFor(what string, timeout time.Duration, check func() error) {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			fatalf("%s not ready after %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ca is the test CA environment: challtestsrv for DNS and one Pebble.
type ca struct {
	tls      *testpki.Cert
	tlsCA    string // PEM file of tls: ACME clients trust Pebble's HTTPS with it
	dnsAddr  string
	dirURL   string // ACME directory
	mgmtURL  string
	httpPort int    // where Pebble sends HTTP-01 validation requests
	rootFile string // Pebble's root, for renewd's trust.extra_roots
	pebble   *daemonProc
	chall    *daemonProc
}

func (c *ca) client() *http.Client {
	pool := testpki.Pool(c.tls)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// startCA starts pebble-challtestsrv (every name resolves to 127.0.0.1) and
// Pebble with PEBBLE_VA_NOSLEEP=1, retryAfter 1 s, no authorization reuse,
// and one 90-day profile, so that all three clients get the same kind of
// certificate without naming a profile.
func startCA(bin, dir string) *ca {
	c := &ca{tls: newTestCA("renewd bench TLS CA")}
	c.tlsCA = filepath.Join(dir, "tls-ca.pem")
	mustWrite(c.tlsCA, testpki.PEM(c.tls), 0o644)

	c.dnsAddr = fmt.Sprintf("127.0.0.1:%d", freePort())
	challMgmt := fmt.Sprintf("http://127.0.0.1:%d", freePort())
	c.chall = startDaemon(filepath.Join(dir, "challtestsrv.log"), nil, filepath.Join(bin, "pebble-challtestsrv"),
		"-dnsserver", c.dnsAddr, "-management", strings.TrimPrefix(challMgmt, "http://"),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	waitFor("challtestsrv", 30*time.Second, func() error {
		resp, err := http.Post(challMgmt+"/clear-txt", "application/json", strings.NewReader(`{"host":"ready.invalid."}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})

	certFile, keyFile := issueServer(c.tls, dir, "pebble")
	c.httpPort = freePort()
	listen, mgmt := fmt.Sprintf("127.0.0.1:%d", freePort()), fmt.Sprintf("127.0.0.1:%d", freePort())
	c.mgmtURL = "https://" + mgmt
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": c.httpPort, "tlsPort": freePort(),
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"retryAfter": map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]any{
			"default": map[string]any{"description": "90 days", "validityPeriod": 7776000},
		},
	}}
	data, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	mustWrite(cfgFile, data, 0o644)
	c.pebble = startDaemon(filepath.Join(dir, "pebble.log"),
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_ALTERNATE_ROOTS=0"},
		filepath.Join(bin, "pebble"), "-config", cfgFile, "-dnsserver", c.dnsAddr)
	c.dirURL = "https://" + listen + "/dir"
	waitFor("pebble", 30*time.Second, func() error {
		resp, err := c.client().Get(c.dirURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	root := c.mgmt("/roots/0")
	c.rootFile = filepath.Join(dir, "pebble-root.pem")
	mustWrite(c.rootFile, root, 0o644)
	return c
}

func (c *ca) mgmt(path string) []byte {
	resp, err := c.client().Get(c.mgmtURL + path)
	if err != nil {
		fatalf("pebble %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		fatalf("pebble %s: %d %v", path, resp.StatusCode, err)
	}
	return body
}

func (c *ca) stop() {
	c.pebble.stop()
	c.chall.stop()
}
