package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/store"
	"github.com/renewd/renewd/test/harness"
)

// workspace is one user's renewd setup: renewd.yaml, domains.d and storage.
type workspace struct {
	t       *testing.T
	dir     string
	config  string
	storage string
	domains string
	roots   string   // trust.extra_roots file
	env     []string // extra environment for renewd, KEY=VALUE
}

// acmeSettings are the acme: and trust: parts of renewd.yaml a test varies.
type acmeSettings struct {
	directory      string
	rootFile       string
	profile        string // default "default": Pebble picks a random profile when none is named
	preferredChain string
	retry          string // YAML flow mapping; default {initial: 5m, max: 24h}
}

func newWorkspace(t *testing.T, a acmeSettings) *workspace {
	t.Helper()
	dir := t.TempDir()
	w := &workspace{t: t, dir: dir, config: filepath.Join(dir, "renewd.yaml"),
		storage: filepath.Join(dir, "storage"), domains: filepath.Join(dir, "domains.d"), roots: a.rootFile}
	if err := os.MkdirAll(w.domains, 0o755); err != nil {
		t.Fatal(err)
	}
	if a.profile == "" {
		a.profile = "default"
	}
	if a.retry == "" {
		a.retry = "{initial: 5m, max: 24h}"
	}
	w.writeGlobal(fmt.Sprintf(`storage: %s
acme:
  directory: %s
  email: e2e@example.com
  ca_certificates: [%s]
  profile: %s
  preferred_chain: %q
trust:
  extra_roots: [%s]
retry: %s
`, w.storage, a.directory, env.tlsCAFile, a.profile, a.preferredChain, a.rootFile, a.retry))
	return w
}

func (w *workspace) writeGlobal(yaml string) {
	w.t.Helper()
	if err := os.WriteFile(w.config, []byte(yaml), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// addCert writes domains.d/<name>.yaml.
func (w *workspace) addCert(name, yaml string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.domains, name+".yaml"), []byte(yaml), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// listenCert is a certificate answered by renewd's own HTTP-01 responder.
func listenCert(port int, domains ...string) string {
	return fmt.Sprintf("domains: [%s]\nchallenge:\n  type: http-01\n  http01: {listen: \"127.0.0.1:%d\"}\n", strings.Join(domains, ", "), port)
}

// result of one renewd invocation (harness.Result, under the names the
// tests use).
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// renewd runs the built binary with this workspace's config.
func (w *workspace) renewd(args ...string) result {
	w.t.Helper()
	return w.run(env.renewd, nil, args...)
}

// renewdLater runs renewd as if the clock were offset ahead: the test
// build of the binary, with RENEWD_TEST_CLOCK_OFFSET, so that decisions
// days ahead are tested without waiting for them.
func (w *workspace) renewdLater(offset time.Duration, args ...string) result {
	w.t.Helper()
	return w.run(env.renewdCrash, []string{"RENEWD_TEST_CLOCK_OFFSET=" + offset.String()}, args...)
}

func (w *workspace) run(bin string, extraEnv []string, args ...string) result {
	w.t.Helper()
	res := harness.MustRunRenewd(w.t, bin, w.config, append(append([]string{}, w.env...), extraEnv...), 3*time.Minute, args...)
	return result{code: res.Code, stdout: res.Stdout, stderr: res.Stderr}
}

// mustRenew runs renewd with args and fails the test unless it exits 0.
func (w *workspace) mustRenew(args ...string) result {
	w.t.Helper()
	res := w.renewd(args...)
	if res.code != 0 {
		w.t.Fatalf("renewd %v: %s", args, res)
	}
	return res
}

func (w *workspace) live(name, file string) []byte {
	w.t.Helper()
	data, err := os.ReadFile(filepath.Join(w.storage, "live", name, file))
	if err != nil {
		w.t.Fatal(err)
	}
	return data
}

func (w *workspace) liveTarget(name string) string {
	w.t.Helper()
	target, err := os.Readlink(filepath.Join(w.storage, "live", name))
	if err != nil {
		w.t.Fatal(err)
	}
	return target
}

// state reads every record, state/<name>.json, as a user's script would.
func (w *workspace) state() map[string]map[string]any {
	w.t.Helper()
	st, err := readRecords(w.storage)
	if err != nil {
		w.t.Fatal(err)
	}
	return st
}

// readRecords parses every state/<name>.json under storage, by name.
func readRecords(storage string) (map[string]map[string]any, error) {
	files, err := filepath.Glob(filepath.Join(storage, "state", "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", f, err, data)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = rec
	}
	return out, nil
}

// stateBytes is every record file's content, in name order: to compare
// the records before and after something that must not change them.
func (w *workspace) stateBytes() []byte {
	w.t.Helper()
	files, err := filepath.Glob(filepath.Join(w.storage, "state", "*"))
	if err != nil {
		w.t.Fatal(err)
	}
	var out []byte
	for _, f := range files {
		out = append(out, "== "+filepath.Base(f)+"\n"...)
		out = append(out, mustRead(w.t, f)...)
	}
	return out
}

// editRecord changes one record file by hand, as an operator may.
func (w *workspace) editRecord(name string, edit func(rec map[string]any)) {
	w.t.Helper()
	path := filepath.Join(w.storage, "state", name+".json")
	var rec map[string]any
	if err := json.Unmarshal(mustRead(w.t, path), &rec); err != nil {
		w.t.Fatal(err)
	}
	edit(rec)
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// checkComplete asserts I1 and I2 for live/<name>: the fullchain is the leaf
// plus intermediates, verifies to the Pebble roots from its own
// certificates, matches the key and names; openssl agrees; keys are 0600.
func (w *workspace) checkComplete(name string, domains []string, wantIntermediates int) *chain.Bundle {
	w.t.Helper()
	full, err := chain.ParsePEM(w.live(name, "fullchain.pem"))
	if err != nil {
		w.t.Fatal(err)
	}
	roots, err := chain.LoadRoots([]string{w.roots})
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := chain.Verify(full, chain.Options{Roots: roots})
	if err != nil {
		w.t.Fatalf("live/%s/fullchain.pem does not verify: %v", name, err)
	}
	if got := len(b.Intermediates); got != wantIntermediates {
		w.t.Errorf("fullchain has %d intermediates, want %d", got, wantIntermediates)
	}
	if !sameSet(b.Leaf.DNSNames, domains) {
		w.t.Errorf("leaf SANs %v, want %v", b.Leaf.DNSNames, domains)
	}
	if !bytes.Equal(w.live(name, "fullchain.pem"), append(w.live(name, "cert.pem"), w.live(name, "chain.pem")...)) {
		w.t.Error("fullchain.pem is not cert.pem followed by chain.pem")
	}
	keyFile := filepath.Join(w.storage, "live", name, "privkey.pem")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		w.t.Errorf("privkey.pem mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if _, err := tlsKeyPair(w.live(name, "fullchain.pem"), w.live(name, "privkey.pem")); err != nil {
		w.t.Errorf("key does not match the leaf: %v", err)
	}
	// openssl, as an operator would check it.
	live := filepath.Join(w.storage, "live", name)
	out, err := exec.Command("openssl", "verify", "-CAfile", w.roots, "-untrusted", filepath.Join(live, "chain.pem"), filepath.Join(live, "cert.pem")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		w.t.Errorf("openssl verify: %v\n%s", err, out)
	}
	return b
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

func versions(t *testing.T, storage, name string) []string {
	t.Helper()
	s, err := store.OpenReadOnly(storage)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Versions(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func issuerCN(c *x509.Certificate) string { return c.Issuer.CommonName }

// appendGlobal adds lines to renewd.yaml.
func (w *workspace) appendGlobal(yaml string) {
	w.t.Helper()
	f, err := os.OpenFile(w.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		w.t.Fatal(err)
	}
}
