package deploy

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
	"github.com/renewd/renewd/internal/testpki"
)

// Fixed dates for every test: certificates are valid around testNow.
var (
	testNow       = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)
	caNotBefore   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	caNotAfter    = time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)
	leafNotBefore = time.Date(2026, 11, 20, 16, 0, 0, 0, time.UTC)
	leafNotAfter  = time.Date(2027, 2, 18, 16, 0, 0, 0, time.UTC)
)

func fixedNow() time.Time { return testNow }

// testPKI is an ECDSA P-256 root -> intermediate; leaves are issued by the
// intermediate.
type testPKI struct {
	root, inter *testpki.Cert
	roots       *x509.CertPool
}

// testLeaf is an issued leaf with its PEM files.
type testLeaf struct {
	cert  *x509.Certificate
	files store.Files
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	b := testpki.New(t, testNow)
	ca := func(serial int64, cn string) []testpki.Option {
		return []testpki.Option{testpki.CN(cn), testpki.Serial(serial), testpki.Validity(caNotBefore, caNotAfter)}
	}
	root := b.Root(ca(1, "renewd test root")...)
	return &testPKI{root: root, inter: b.Issue(root, ca(2, "renewd test intermediate")...), roots: testpki.Pool(root)}
}

// issue makes a leaf for names with the given serial under the
// intermediate, with the leaves' fixed dates.
func (p *testPKI) issue(t *testing.T, serial int64, names []string, opts ...testpki.Option) *testpki.Cert {
	t.Helper()
	return testpki.New(t, testNow).Issue(p.inter, append([]testpki.Option{testpki.CN(names[0]), testpki.Names(names...),
		testpki.Serial(serial), testpki.Validity(leafNotBefore, leafNotAfter)}, opts...)...)
}

// leaf issues a leaf for names with the given serial and returns it with
// Files holding PEM cert, chain, fullchain and key.
func (p *testPKI) leaf(t *testing.T, serial int64, names ...string) testLeaf {
	t.Helper()
	c := p.issue(t, serial, names)
	return testLeaf{cert: c.Cert, files: store.Files{
		Cert:      testpki.PEM(c),
		Chain:     testpki.PEM(p.inter),
		Fullchain: testpki.PEM(c, p.inter),
		Key:       c.KeyPEM(),
	}}
}

// served is what a correctly configured nginx sends for l.
func (p *testPKI) served(l testLeaf) []*x509.Certificate {
	return []*x509.Certificate{l.cert, p.inter.Cert}
}

// newItem is an item deploying l into dir as <name>.fullchain.pem and
// <name>.key.pem, with nginx.
func newItem(name, dir string, l testLeaf, domains ...string) *Item {
	return &Item{
		Name:    name,
		Domains: domains,
		Deploy: config.Deploy{
			Fullchain:   filepath.Join(dir, name+".fullchain.pem"),
			Key:         filepath.Join(dir, name+".key.pem"),
			Nginx:       true,
			HookTimeout: time.Minute,
			UID:         -1,
			GID:         -1,
			FilePerm:    0o644,
			KeyPerm:     0o600,
		},
		Files:   l.files,
		Leaf:    l.cert,
		Version: "20261121T160000Z",
		LiveDir: filepath.Join(dir, "live", name),
	}
}

// writeFile puts data at path with exactly perm.
func writeFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// wantFile fails unless path holds exactly data with mode perm.
func wantFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read %s: %v", path, err)
		return
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%s holds %d bytes that differ from the %d expected", path, len(got), len(data))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != perm {
		t.Errorf("%s mode = %o, want %o", path, fi.Mode().Perm(), perm)
	}
}

// wantNoFile fails if path exists.
func wantNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("%s: want no file, Lstat says %v", path, err)
	}
}

// wantErrContains fails unless err is non-nil and contains every part.
func wantErrContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("error = nil, want one containing %q", parts)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// recordWrites is the real WriteFunc with a record of every call and an
// optional fault: fail(n, path) is asked before the n-th call (from 1).
type recordWrites struct {
	mu    sync.Mutex
	paths []string
	fail  func(n int, path string) error
}

func (w *recordWrites) write(path string, data []byte, perm os.FileMode, uid, gid int) error {
	w.mu.Lock()
	w.paths = append(w.paths, path)
	n := len(w.paths)
	w.mu.Unlock()
	if w.fail != nil {
		if err := w.fail(n, path); err != nil {
			return err
		}
	}
	return store.WriteFileOwned(path, data, perm, uid, gid)
}

func (w *recordWrites) calls() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.paths)
}

// fakeRunner records every command; run, if set, decides its result.
type fakeRunner struct {
	mu    sync.Mutex
	calls []runCall
	run   func(argv, env []string) ([]byte, error)
}

type runCall struct {
	argv, env []string
	timeout   time.Duration
}

func (f *fakeRunner) Run(_ context.Context, argv, env []string, timeout time.Duration) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, runCall{slices.Clone(argv), slices.Clone(env), timeout})
	f.mu.Unlock()
	if f.run == nil {
		return nil, nil
	}
	return f.run(argv, env)
}

// count returns how often argv was run.
func (f *fakeRunner) count(argv []string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if slices.Equal(c.argv, argv) {
			n++
		}
	}
	return n
}

// argvs returns every argv run, in order, each as quote renders it.
func (f *fakeRunner) argvs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, quote(c.argv))
	}
	return out
}

// envOf returns the environment of the first run of argv.
func (f *fakeRunner) envOf(argv []string) ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if slices.Equal(c.argv, argv) {
			return c.env, true
		}
	}
	return nil, false
}

// fakeProber answers with probe and records every SNI and kind of key
// asked for.
type fakeProber struct {
	mu    sync.Mutex
	snis  []string
	keys  []x509.PublicKeyAlgorithm
	probe func(ctx context.Context, addr, sni string, n int) ([]*x509.Certificate, error)
}

func (f *fakeProber) Probe(ctx context.Context, addr, sni string, key x509.PublicKeyAlgorithm) ([]*x509.Certificate, error) {
	f.mu.Lock()
	f.snis = append(f.snis, sni)
	f.keys = append(f.keys, key)
	n := 0
	for _, s := range f.snis {
		if s == sni {
			n++
		}
	}
	f.mu.Unlock()
	return f.probe(ctx, addr, sni, n)
}

// askedNames returns the names probed, sorted, each once: a name is probed
// until it passes `confirmations` times in a row.
func (f *fakeProber) askedNames() []string {
	names := f.asked()
	slices.Sort(names)
	return slices.Compact(names)
}

func (f *fakeProber) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.snis)
}

// serveChains is a fakeProber that answers sni with chains[sni][n-1] on its
// n-th probe, repeating the last entry; an unknown SNI is an error.
func serveChains(chains map[string][][]*x509.Certificate) *fakeProber {
	return &fakeProber{probe: func(_ context.Context, _, sni string, n int) ([]*x509.Certificate, error) {
		seq, ok := chains[sni]
		if !ok || len(seq) == 0 {
			return nil, &unknownSNIError{sni}
		}
		return seq[min(n, len(seq))-1], nil
	}}
}

type unknownSNIError struct{ sni string }

func (e *unknownSNIError) Error() string { return "no certificate for SNI " + e.sni }

// fakeAfter is an After whose channels have already fired; it records the
// durations asked for.
type fakeAfter struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeAfter) after(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- testNow.Add(d)
	return ch
}

func (f *fakeAfter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waits)
}
