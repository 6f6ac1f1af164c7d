package takeover

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/test/harness"
)

// startPebble starts a Pebble for one test. Nonce rejection is off:
// certbot and renewd both retry a bad nonce, but these tests count
// orders, not retries.
func startPebble(t *testing.T) *harness.Pebble {
	t.Helper()
	return harness.StartPebble(t, harness.PebbleOptions{
		Bin: filepath.Join(env.bin, "pebble"), TLS: env.tls, DNSAddr: env.dnsAddr,
		Profiles: map[string]int{"default": 7776000},
	})
}

// dueNow makes Pebble suggest renewing leaf in a window that has already
// started: the certificate is due.
func dueNow(t *testing.T, pb *harness.Pebble, leaf *x509.Certificate) {
	t.Helper()
	start, end := time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	pb.SetRenewalInfo(t, leaf, fmt.Sprintf(`{"suggestedWindow": {"start": %q, "end": %q}}`,
		start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)))
}

// nginxYAML is the nginx: section of renewd.yaml for n: its test and
// reload commands, and the TLS port renewd verifies what it serves on.
func nginxYAML(n *harness.Nginx, tlsPort int) string {
	return fmt.Sprintf("  test: %s\n  reload: %s\n  verify: {address: \"127.0.0.1:%d\"}\n",
		harness.YAMLArgv(n.Argv("-t")), harness.YAMLArgv(n.Argv("-s", "reload")), tlsPort)
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
func newWorkspace(t *testing.T, pb *harness.Pebble, roots []string, nginxLines string) *workspace {
	t.Helper()
	dir := t.TempDir()
	w := &workspace{t: t, dir: dir, config: filepath.Join(dir, "renewd.yaml"), storage: filepath.Join(dir, "storage"), domains: filepath.Join(dir, "domains.d")}
	if err := os.MkdirAll(w.domains, 0o755); err != nil {
		t.Fatal(err)
	}
	directory := "https://127.0.0.1:1/dir"
	if pb != nil {
		directory = pb.DirURL
		roots = append(roots, pb.RootFile)
	}
	yaml := fmt.Sprintf("storage: %s\nacme:\n  directory: %s\n  email: takeover@example.com\n  ca_certificates: [%s]\n  profile: default\ntrust:\n  extra_roots: [%s]\nnginx:\n%s",
		w.storage, directory, env.tlsCAFile, strings.Join(roots, ", "), nginxLines)
	if err := os.WriteFile(w.config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// result of one renewd invocation.
type result = harness.Result

func (w *workspace) renewd(args ...string) result {
	w.t.Helper()
	return harness.MustRunRenewd(w.t, env.renewd, w.config, w.env, 3*time.Minute, args...)
}

func (w *workspace) must(args ...string) result {
	w.t.Helper()
	res := w.renewd(args...)
	if res.Code != 0 {
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
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		w.t.Fatalf("status --json: %v\n%s", err, res.Stdout)
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
