package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
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

// stepCAModule is the second ACME implementation the tests run against:
// smallstep's step-ca, built from the Go module proxy with cgo off. It is
// not a go.mod tool: its few hundred dependencies would move renewd's own
// (grpc, x/crypto). `go install pkg@version` builds it apart, once per test
// binary, into the e2e bin directory; the build cache makes later runs
// quick.
const stepCAModule = "github.com/smallstep/certificates/cmd/step-ca@v0.30.2"

var stepCABuild struct {
	once sync.Once
	path string
	err  error
}

// stepCABinary builds step-ca once. A failed build fails the test: the
// module proxy is one of the registries CI reaches.
func stepCABinary(t *testing.T) string {
	t.Helper()
	stepCABuild.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install", stepCAModule)
		cmd.Dir = env.bin // outside renewd's module: its go.mod does not apply
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOBIN="+env.bin, "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			stepCABuild.err = fmt.Errorf("go install %s: %w\n%s", stepCAModule, err, out)
			return
		}
		stepCABuild.path = filepath.Join(env.bin, "step-ca")
	})
	if stepCABuild.err != nil {
		t.Fatal(stepCABuild.err)
	}
	return stepCABuild.path
}

// stepCA is one running step-ca with an ACME provisioner. Its HTTP-01
// validations go to httpPort on whatever challtestsrv resolves the name to
// (127.0.0.1).
type stepCA struct {
	t        *testing.T
	bin      string
	dir      string
	addr     string
	httpPort int
	dirURL   string
	rootFile string // step-ca's root: its HTTPS endpoint and its chains
	proc     *process
}

func startStepCA(t *testing.T) *stepCA {
	t.Helper()
	s := &stepCA{t: t, bin: stepCABinary(t), dir: t.TempDir(), httpPort: freePort(t)}
	s.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.dirURL = "https://" + s.addr + "/acme/acme/directory"
	b := testpki.New(t, time.Now())
	root := b.LocalCA("renewd e2e step-ca root")
	s.rootFile = filepath.Join(s.dir, "root.pem")
	inter := b.Issue(root, testpki.CN("renewd e2e step-ca intermediate"), testpki.Serial(2), testpki.MaxPathLen(0),
		testpki.KeyUsage(x509.KeyUsageCertSign|x509.KeyUsageCRLSign|x509.KeyUsageDigitalSignature),
		testpki.Validity(time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)))
	for f, data := range map[string][]byte{"root.pem": testpki.PEM(root), "intermediate.pem": testpki.PEM(inter), "intermediate.key": testpki.ECKeyPEM(inter.Key)} {
		if err := os.WriteFile(filepath.Join(s.dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := map[string]any{
		"root": s.rootFile, "crt": filepath.Join(s.dir, "intermediate.pem"), "key": filepath.Join(s.dir, "intermediate.key"),
		"address": s.addr, "dnsNames": []string{"127.0.0.1", "localhost"},
		"db":        map[string]string{"type": "badgerv2", "dataSource": filepath.Join(s.dir, "db")},
		"logger":    map[string]string{"format": "text"},
		"authority": map[string]any{"provisioners": []map[string]any{{"type": "ACME", "name": "acme"}}},
	}
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(s.dir, "ca.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(func() {
		s.proc.stop()
		if t.Failed() {
			t.Logf("step-ca log:\n%s", s.proc.tail())
		}
	})
	return s
}

// start runs step-ca on its address, validating HTTP-01 on httpPort and
// resolving names through challtestsrv.
func (s *stepCA) start() {
	s.t.Helper()
	var err error
	s.proc, err = startProcess(filepath.Join(s.dir, "step-ca.log"), nil, s.bin, filepath.Join(s.dir, "ca.json"),
		"--insecure", "--acme-http-port", fmt.Sprint(s.httpPort), "--resolver", env.dnsAddr)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := waitFor("step-ca", 60*time.Second, func() error {
		resp, err := rootsClient(s.t, s.rootFile).Get(s.dirURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}); err != nil {
		s.t.Fatalf("%v\n%s", err, s.proc.tail())
	}
}

// forget stops step-ca, wipes its database and starts it again on the same
// address: every account renewd registered is gone.
func (s *stepCA) forget() {
	s.t.Helper()
	s.proc.stop()
	if err := waitFor("step-ca to stop", 30*time.Second, func() error {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return errors.New("still listening")
		}
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(s.dir, "db")); err != nil {
		s.t.Fatal(err)
	}
	s.start()
}

// rootsClient trusts the roots in file only.
func rootsClient(t *testing.T, file string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(mustRead(t, file)) {
		t.Fatalf("%s holds no certificate", file)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestStepCA runs renewd against step-ca v0.30.2, which leaves a failed
// HTTP-01 challenge "pending" with the error inside it:
//   - a failed validation ends at once with step-ca's own error on one
//     line, instead of minutes of polling and "status=pending";
//   - with the responder where step-ca looks, the certificate is issued
//     with its complete chain;
//   - after step-ca's database is wiped, renewd registers a new account,
//     says so, and renews.
func TestStepCA(t *testing.T) {
	t.Parallel()
	ca := startStepCA(t)
	w := &workspace{t: t, dir: t.TempDir(), roots: ca.rootFile}
	w.config, w.storage, w.domains = filepath.Join(w.dir, "renewd.yaml"), filepath.Join(w.dir, "storage"), filepath.Join(w.dir, "domains.d")
	if err := os.MkdirAll(w.domains, 0o755); err != nil {
		t.Fatal(err)
	}
	w.writeGlobal(fmt.Sprintf("storage: %s\nacme:\n  directory: %s\n  email: e2e@renewd.test\n  ca_certificates: [%s]\ntrust:\n  extra_roots: [%s]\n",
		w.storage, ca.dirURL, ca.rootFile, ca.rootFile))
	domains := []string{"shop.stepca.example.com"}

	// Nothing listens where step-ca validates.
	w.addCert("shop", listenCert(freePort(t), domains...))
	start := time.Now()
	res := w.renewd("renew", "--now", "shop")
	took := time.Since(start)
	if res.code != 1 {
		t.Fatalf("renew against a refused validation: %s", res)
	}
	if took > time.Minute {
		t.Errorf("the failed order took %s; step-ca reported the error at once", took)
	}
	want := "http-01 for shop.stepca.example.com: connection: "
	if !strings.Contains(res.stderr, "shop             failed  "+want) || strings.Contains(res.stdout+res.stderr, "status=pending") {
		t.Errorf("want step-ca's error on one failed line on stderr, starting %q:\n%s", want, res)
	}
	if n := strings.Count(res.stdout+res.stderr, "could not connect to validation target"); n > 1 {
		t.Errorf("the cause is said %d times:\n%s", n, res)
	}
	st := w.state()["shop"]
	if le, _ := st["last_error"].(string); !strings.HasPrefix(le, want) || strings.Contains(le, "\n") {
		t.Errorf("last_error %q, want one line starting %q", le, want)
	}
	if d, _ := st["last_error_detail"].(string); !strings.Contains(d, "urn:ietf:params:acme:error:connection") {
		t.Errorf("last_error_detail %q lacks the CA's problem", d)
	}

	// The responder where step-ca looks: issued, complete chain.
	w.addCert("shop", listenCert(ca.httpPort, domains...))
	w.mustRenew("renew", "--now", "shop")
	w.checkComplete("shop", domains, 1)
	serial := w.state()["shop"]["serial"]

	// step-ca forgot every account.
	ca.forget()
	res = w.mustRenew("renew", "--now", "shop")
	if !strings.Contains(res.stderr, "no longer knows the stored ACME account") {
		t.Errorf("renewd did not say it registered a new account:\n%s", res)
	}
	w.checkComplete("shop", domains, 1)
	if got := w.state()["shop"]["serial"]; got == serial {
		t.Errorf("serial %v unchanged: no new certificate after the new account", got)
	}
}
