package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/renewd/renewd/test/harness"
)

// The helpers below keep the names the tests use; the work is done by the
// shared harness package (test/harness), which test/bench uses too.

// freePort returns a loopback port nothing listens on right now, and that
// no other call in this test process returned.
func freePort(t testing.TB) int {
	t.Helper()
	return harness.MustFreePort(t)
}

func freePortNoT() (int, error) { return harness.FreePort() }

// httpsClient trusts the e2e TLS CA (Pebble's and the proxy's endpoints).
func httpsClient() *http.Client { return env.tls.Client() }

// waitFor polls check until it returns nil or the deadline passes. It
// waits on a real process coming up, not on time passing in a test.
func waitFor(what string, timeout time.Duration, check func() error) error {
	return harness.WaitFor(what, timeout, check)
}

// process is a started helper program whose output goes to a log file.
type process struct {
	*harness.Process
	cmd *exec.Cmd
	log string
}

func wrapProcess(p *harness.Process) *process { return &process{Process: p, cmd: p.Cmd, log: p.Log} }

func startProcess(logFile string, envs []string, name string, args ...string) (*process, error) {
	p, err := harness.StartProcess(logFile, envs, name, args...)
	if err != nil {
		return nil, err
	}
	return wrapProcess(p), nil
}

func (p *process) stop() { p.Stop() }

func (p *process) tail() string { return p.Tail() }

// startChallTestSrv starts the shared DNS server that answers A queries
// with 127.0.0.1 and serves TXT records set through its management API.
func startChallTestSrv(dir string) (func(), error) {
	c, err := harness.StartChallTestSrv(filepath.Join(env.bin, "pebble-challtestsrv"), dir)
	if err != nil {
		return nil, err
	}
	env.dnsAddr, env.challMgmtURL = c.DNSAddr, c.MgmtURL
	return c.Proc.Stop, nil
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
	eabKID  = harness.EABKID
	eabHMAC = harness.EABHMAC
)

// pebble is one running Pebble.
// Its directory, ports and roots are harness.Pebble's (DirURL, HTTPPort,
// RootFile...).
type pebble struct {
	*harness.Pebble
	proc *process
}

func startPebble(t *testing.T, o pebbleOpts) *pebble {
	t.Helper()
	reject := o.nonceReject
	if reject == 0 {
		reject = -1 // Pebble's default
	}
	pb := harness.StartPebble(t, harness.PebbleOptions{
		Bin: filepath.Join(env.bin, "pebble"), TLS: env.tls.TLSCA, DNSAddr: env.dnsAddr,
		ChainLength: o.chainLength, AlternateRoots: o.alternateRoots, NonceReject: reject, EAB: o.eab,
	})
	return &pebble{Pebble: pb, proc: wrapProcess(pb.Proc)}
}

// get fetches a path from Pebble's management API.
func (pb *pebble) get(t *testing.T, path string) []byte {
	t.Helper()
	return pb.Get(t, path)
}

func parseRoots(t *testing.T, pb *pebble) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, p := range pb.Roots {
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
