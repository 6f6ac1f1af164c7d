package deploy

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/secret"
)

var (
	nginxTest   = []string{"nginx", "-t"}
	nginxReload = []string{"nginx", "-s", "reload"}
	nginxStart  = []string{"nginx"}
	notifyA     = []string{"/usr/local/bin/notify", "a"}
	pushA       = []string{"/usr/local/bin/push", "a"}
	notifyB     = []string{"/usr/local/bin/notify", "b"}
)

// deployFixture is two certificates, a (a.example.com, www.a.example.com)
// and b (*.b.example.com), whose previous versions are installed in dir, a
// nginx that accepts everything and serves the new chains, and fakes that
// record what Deploy does.
type deployFixture struct {
	pki                    *testPKI
	dir                    string
	oldA, newA, oldB, newB testLeaf
	a, b                   *Item
	runner                 *fakeRunner
	prober                 *fakeProber
	after                  *fakeAfter
	writes                 *recordWrites
	d                      *Deployer

	mu    sync.Mutex
	steps []string
}

// Modes of the previous files, different from the configured ones so that a
// restore is seen to bring the old mode back.
const (
	oldFilePerm = 0o640
	oldKeyPerm  = 0o400
)

func newDeployFixture(t *testing.T) *deployFixture {
	t.Helper()
	f := &deployFixture{pki: newPKI(t), dir: t.TempDir()}
	f.oldA = f.pki.leaf(t, 0xa0, "a.example.com", "www.a.example.com")
	f.newA = f.pki.leaf(t, 0xa1, "a.example.com", "www.a.example.com")
	f.oldB = f.pki.leaf(t, 0xb0, "*.b.example.com")
	f.newB = f.pki.leaf(t, 0xb1, "*.b.example.com")
	f.a = newItem("a", f.dir, f.newA, "a.example.com", "www.a.example.com")
	f.a.Deploy.Hooks = [][]string{notifyA, pushA}
	f.b = newItem("b", f.dir, f.newB, "*.b.example.com")
	f.b.Deploy.Hooks = [][]string{notifyB}
	for _, x := range []struct {
		it  *Item
		old testLeaf
	}{{f.a, f.oldA}, {f.b, f.oldB}} {
		writeFile(t, x.it.Deploy.Fullchain, x.old.files.Fullchain, oldFilePerm)
		writeFile(t, x.it.Deploy.Key, x.old.files.Key, oldKeyPerm)
	}
	f.runner = &fakeRunner{}
	f.prober = serveChains(map[string][][]*x509.Certificate{
		"a.example.com":               {f.pki.served(f.newA)},
		"www.a.example.com":           {f.pki.served(f.newA)},
		"renewd-verify.b.example.com": {f.pki.served(f.newB)},
	})
	f.after = &fakeAfter{}
	f.writes = &recordWrites{}
	f.d = &Deployer{
		Nginx: config.Nginx{
			Test:    nginxTest,
			Reload:  nginxReload,
			Timeout: 30 * time.Second,
			Verify:  config.Verify{Address: "127.0.0.1:8443", Timeout: time.Minute},
		},
		Roots: f.pki.roots,
		Log:   zap.NewNop(),
		Progress: func(name, step, _ string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.steps = append(f.steps, name+" "+step)
		},
		Runner: f.runner,
		Prober: f.prober,
		Write:  f.writes.write,
		Now:    fixedNow,
		After:  f.after.after,
	}
	return f
}

// serve replaces what the fake nginx sends for sni: seq[n-1] on the n-th
// probe, then the last one.
func (f *deployFixture) serve(sni string, seq ...[]*x509.Certificate) {
	base := f.prober.probe
	f.prober.probe = func(ctx context.Context, addr, s string, n int) ([]*x509.Certificate, error) {
		if s == sni {
			return seq[min(n, len(seq))-1], nil
		}
		return base(ctx, addr, s, n)
	}
}

// fail makes the n-th run of argv (0: every run) fail with output out.
func (f *deployFixture) fail(argv []string, n int, out string) {
	base := f.runner.run
	var runs int
	f.runner.run = func(a, env []string) ([]byte, error) {
		if slices.Equal(a, argv) {
			runs++
			if n == 0 || runs == n {
				return []byte(out), fmt.Errorf("%s: exit status 1", quote(a))
			}
		}
		if base != nil {
			return base(a, env)
		}
		return nil, nil
	}
}

func (f *deployFixture) wantNew(t *testing.T, it *Item) {
	t.Helper()
	wantFile(t, it.Deploy.Fullchain, it.Files.Fullchain, 0o644)
	wantFile(t, it.Deploy.Key, it.Files.Key, 0o600)
}

func (f *deployFixture) wantOld(t *testing.T, it *Item) {
	t.Helper()
	old := f.oldA
	if it == f.b {
		old = f.oldB
	}
	wantFile(t, it.Deploy.Fullchain, old.files.Fullchain, oldFilePerm)
	wantFile(t, it.Deploy.Key, old.files.Key, oldKeyPerm)
}

func (f *deployFixture) wantRuns(t *testing.T, argv []string, n int) {
	t.Helper()
	if got := f.runner.count(argv); got != n {
		t.Errorf("%s ran %d times, want %d (all runs: %q)", quote(argv), got, n, f.runner.argvs())
	}
}

func (f *deployFixture) hasStep(step string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.steps, step)
}

func wantOK(t *testing.T, res map[string]error, name string) {
	t.Helper()
	if err, ok := res[name]; !ok || err != nil {
		t.Errorf("result[%s] = %v (present %t), want nil", name, err, ok)
	}
}

func wantFailed(t *testing.T, res map[string]error, name string, parts ...string) {
	t.Helper()
	err := res[name]
	if err == nil {
		t.Errorf("result[%s] = nil, want an error", name)
		return
	}
	wantErrContains(t, err, parts...)
}

func TestDeploy(t *testing.T) {
	tests := []struct {
		desc  string
		setup func(t *testing.T, f *deployFixture)
		check func(t *testing.T, f *deployFixture, res map[string]error)
	}{
		{
			desc: "two certificates: installed, nginx tested and reloaded once, verified, hooked",
			setup: func(t *testing.T, f *deployFixture) {
				f.runner.run = func(argv, _ []string) ([]byte, error) {
					if slices.Equal(argv, nginxTest) {
						// nginx -t must see the new files of both.
						f.wantNew(t, f.a)
						f.wantNew(t, f.b)
					}
					return nil, nil
				}
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantOK(t, res, "a")
				wantOK(t, res, "b")
				if len(res) != 2 {
					t.Errorf("result has %d entries, want 2: %v", len(res), res)
				}
				f.wantNew(t, f.a)
				f.wantNew(t, f.b)
				want := []string{quote(nginxTest), quote(nginxReload), quote(notifyA), quote(pushA), quote(notifyB)}
				if got := f.runner.argvs(); !slices.Equal(got, want) {
					t.Errorf("runs = %q, want %q", got, want)
				}
				for _, c := range f.runner.calls {
					wantTimeout := time.Minute
					if slices.Equal(c.argv, nginxTest) || slices.Equal(c.argv, nginxReload) {
						wantTimeout = 30 * time.Second
						if c.env != nil {
							t.Errorf("%s got env %q", quote(c.argv), c.env)
						}
					}
					if c.timeout != wantTimeout {
						t.Errorf("%s timeout %v, want %v", quote(c.argv), c.timeout, wantTimeout)
					}
				}
				asked := f.prober.askedNames()
				if want := []string{"a.example.com", "renewd-verify.b.example.com", "www.a.example.com"}; !slices.Equal(asked, want) {
					t.Errorf("probed %q, want %q", asked, want)
				}
				env, _ := f.runner.envOf(notifyA)
				for _, kv := range []string{
					"RENEWD_NAME=a",
					"RENEWD_DOMAINS=a.example.com www.a.example.com",
					"RENEWD_FULLCHAIN=" + f.a.Deploy.Fullchain,
					"RENEWD_KEY=" + f.a.Deploy.Key,
					"RENEWD_SERIAL=a1",
					"RENEWD_NOT_AFTER=2027-02-18T16:00:00Z",
					"RENEWD_LIVE_DIR=" + f.a.LiveDir,
					"RENEWD_VERSION=20261121T160000Z",
				} {
					if !slices.Contains(env, kv) {
						t.Errorf("hook env %q lacks %q", env, kv)
					}
				}
				if env, _ := f.runner.envOf(notifyB); !slices.Contains(env, "RENEWD_DOMAINS=*.b.example.com") || !slices.Contains(env, "RENEWD_SERIAL=b1") {
					t.Errorf("hook env of b = %q", env)
				}
				for _, s := range []string{"a install", "b install", "nginx reload", "a verify", "b verify", "a hook", "b hook"} {
					if !f.hasStep(s) {
						t.Errorf("no progress step %q in %q", s, f.steps)
					}
				}
				if f.hasStep("a rollback") || f.hasStep("b rollback") {
					t.Errorf("rollback reported: %q", f.steps)
				}
			},
		},
		{
			desc: "nginx test fails: not reloaded, both restored",
			setup: func(t *testing.T, f *deployFixture) {
				f.fail(nginxTest, 0, "nginx: [emerg] cannot load certificate key\nnginx: configuration file /etc/nginx/nginx.conf test failed\n")
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				for _, name := range []string{"a", "b"} {
					wantFailed(t, res, name, "nginx test failed", "nginx not reloaded", "[nginx -t]", "configuration file /etc/nginx/nginx.conf test failed")
				}
				f.wantOld(t, f.a)
				f.wantOld(t, f.b)
				f.wantRuns(t, nginxTest, 1)
				f.wantRuns(t, nginxReload, 0)
				f.wantRuns(t, notifyA, 0)
				f.wantRuns(t, notifyB, 0)
				if got := f.prober.asked(); len(got) != 0 {
					t.Errorf("probed %q after a failed test", got)
				}
				if !f.hasStep("a rollback") || !f.hasStep("b rollback") {
					t.Errorf("steps %q lack the rollbacks", f.steps)
				}
			},
		},
		{
			desc: "reload fails: both restored, no hooks",
			setup: func(t *testing.T, f *deployFixture) {
				f.fail(nginxReload, 0, "nginx: [error] invalid PID number \"\" in \"/run/nginx.pid\"")
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				for _, name := range []string{"a", "b"} {
					wantFailed(t, res, name, "nginx reload failed", "invalid PID number")
				}
				f.wantOld(t, f.a)
				f.wantOld(t, f.b)
				f.wantRuns(t, nginxReload, 1)
				f.wantRuns(t, notifyA, 0)
				f.wantRuns(t, notifyB, 0)
				if got := f.prober.asked(); len(got) != 0 {
					t.Errorf("probed %q after a failed reload", got)
				}
			},
		},
		{
			desc: "reload fails and nginx.start is set: nginx is started on the new files, verified, hooked",
			setup: func(t *testing.T, f *deployFixture) {
				f.d.Nginx.Start = nginxStart
				f.fail(nginxReload, 0, "nginx: [error] open() \"/run/nginx.pid\" failed (2: No such file or directory)")
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantOK(t, res, "a")
				wantOK(t, res, "b")
				f.wantNew(t, f.a)
				f.wantNew(t, f.b)
				want := []string{quote(nginxTest), quote(nginxReload), quote(nginxStart), quote(notifyA), quote(pushA), quote(notifyB)}
				if got := f.runner.argvs(); !slices.Equal(got, want) {
					t.Errorf("runs = %q, want %q", got, want)
				}
				if !f.hasStep("nginx start") {
					t.Errorf("steps %q lack the start", f.steps)
				}
			},
		},
		{
			desc: "reload and start fail: both restored, nginx -t run on the restored files",
			setup: func(t *testing.T, f *deployFixture) {
				f.d.Nginx.Start = nginxStart
				f.fail(nginxReload, 0, "no pid")
				f.fail(nginxStart, 0, "nginx: [emerg] bind() to 0.0.0.0:443 failed (98: Address already in use)")
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantFailed(t, res, "a", "nginx reload failed", "no pid", "starting it failed", "Address already in use")
				f.wantOld(t, f.a)
				f.wantOld(t, f.b)
				f.wantRuns(t, nginxTest, 2)
				f.wantRuns(t, notifyA, 0)
			},
		},
		{
			desc: "reload fails where the previous pair did not match: the new pair stays, and passes nginx -t",
			setup: func(t *testing.T, f *deployFixture) {
				// An older renewd killed between its two renames: a's new
				// fullchain next to its old key.
				writeFile(t, f.a.Deploy.Fullchain, f.newA.files.Fullchain, 0o644)
				f.fail(nginxReload, 0, "invalid PID number")
				f.fail(nginxTest, 2, "nginx: [emerg] SSL_CTX_use_PrivateKey failed (key values mismatch)")
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantFailed(t, res, "a", "nginx reload failed", "stay installed", "no matching certificate and key")
				f.wantNew(t, f.a)
				f.wantOld(t, f.b)
				wantFailed(t, res, "b", "nginx test fails on the installed files")
				f.wantRuns(t, nginxTest, 2)
			},
		},
		{
			desc: "a failing hook prints a secret: masked in the result and in progress",
			setup: func(t *testing.T, f *deployFixture) {
				secret.Add("cdn-token-d3ad")
				f.a.Deploy.Hooks = [][]string{{"/usr/local/bin/purge", "--token=cdn-token-d3ad"}, pushA}
				f.fail(f.a.Deploy.Hooks[0], 0, "401 Unauthorized for token cdn-token-d3ad\n")
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantFailed(t, res, "a", "deploy hook failed", "[/usr/local/bin/purge --token=********]", "401 Unauthorized for token ********")
				if strings.Contains(res["a"].Error(), "cdn-token-d3ad") {
					t.Errorf("the result shows the secret: %v", res["a"])
				}
			},
		},
		{
			desc: "served chain of one is leaf-only: that one restored and nginx reloaded again",
			setup: func(t *testing.T, f *deployFixture) {
				f.serve("renewd-verify.b.example.com", []*x509.Certificate{f.newB.cert})
				f.d.Nginx.Verify.Timeout = time.Millisecond
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantOK(t, res, "a")
				wantFailed(t, res, "b", "does not serve the new certificate with a complete chain",
					"renewd-verify.b.example.com at 127.0.0.1:8443", "incomplete")
				f.wantNew(t, f.a)
				f.wantOld(t, f.b)
				f.wantRuns(t, nginxTest, 1)
				f.wantRuns(t, nginxReload, 2)
				f.wantRuns(t, notifyA, 1)
				f.wantRuns(t, pushA, 1)
				f.wantRuns(t, notifyB, 0)
				if !f.hasStep("b rollback") || f.hasStep("a rollback") {
					t.Errorf("steps = %q, want a rollback of b alone", f.steps)
				}
			},
		},
		{
			desc: "nginx keeps serving the old serial: error names both serials",
			setup: func(t *testing.T, f *deployFixture) {
				f.serve("a.example.com", f.pki.served(f.oldA))
				f.d.Nginx.Verify.Timeout = time.Millisecond
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantFailed(t, res, "a", "a.example.com at 127.0.0.1:8443", "nginx serves serial a0, not the new a1")
				wantOK(t, res, "b")
				f.wantOld(t, f.a)
				f.wantNew(t, f.b)
				f.wantRuns(t, nginxReload, 2)
				f.wantRuns(t, notifyA, 0)
				f.wantRuns(t, notifyB, 1)
				if f.after.count() == 0 {
					t.Error("never waited between probes")
				}
			},
		},
		{
			desc: "workers switch over after a moment: old serial, then the new one",
			setup: func(t *testing.T, f *deployFixture) {
				f.serve("www.a.example.com", f.pki.served(f.oldA), f.pki.served(f.oldA), f.pki.served(f.newA))
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantOK(t, res, "a")
				wantOK(t, res, "b")
				f.wantNew(t, f.a)
				f.wantRuns(t, nginxReload, 1)
				// www.a: two stale answers, then the new serial on
				// `confirmations` fresh connections in a row; b's name needs
				// its confirmations too.
				if got, want := f.after.count(), 2+confirmations-1+confirmations-1; got != want {
					t.Errorf("waited %d times, want %d", got, want)
				}
				if n, want := strings.Count(strings.Join(f.prober.asked(), " "), "www.a.example.com"), 2+confirmations; n != want {
					t.Errorf("www.a.example.com probed %d times, want %d", n, want)
				}
			},
		},
		{
			desc: "reload after the rollback fails too",
			setup: func(t *testing.T, f *deployFixture) {
				f.serve("renewd-verify.b.example.com", []*x509.Certificate{f.newB.cert})
				f.d.Nginx.Verify.Timeout = time.Millisecond
				f.fail(nginxReload, 2, "reload hung")
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantOK(t, res, "a")
				wantFailed(t, res, "b", "complete chain", "the reload after restoring the previous files failed too")
				f.wantOld(t, f.b)
				f.wantRuns(t, nginxReload, 2)
			},
		},
		{
			desc: "install of one fails with ENOSPC: the other is deployed",
			setup: func(t *testing.T, f *deployFixture) {
				failed := false
				f.writes.fail = func(_ int, path string) error {
					// a's new key, in its new version directory
					if strings.Contains(path, ".renewd-a/20261121T160000Z.") && strings.HasSuffix(path, keyFile) && !failed {
						failed = true
						return &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
					}
					return nil
				}
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				if err := res["a"]; !errors.Is(err, syscall.ENOSPC) {
					t.Errorf("result[a] = %v, want an error wrapping ENOSPC", err)
				}
				wantOK(t, res, "b")
				f.wantOld(t, f.a)
				f.wantNew(t, f.b)
				f.wantRuns(t, nginxTest, 1)
				f.wantRuns(t, nginxReload, 1)
				f.wantRuns(t, notifyA, 0)
				f.wantRuns(t, notifyB, 1)
				if got := f.prober.askedNames(); !slices.Equal(got, []string{"renewd-verify.b.example.com"}) {
					t.Errorf("probed %q, want b's name alone", got)
				}
			},
		},
		{
			desc: "restoring after a failed nginx test fails too",
			setup: func(t *testing.T, f *deployFixture) {
				tested := false
				f.runner.run = func(argv, _ []string) ([]byte, error) {
					if slices.Equal(argv, nginxTest) {
						tested = true
						return []byte("test failed"), errors.New("[nginx -t]: exit status 1")
					}
					return nil, nil
				}
				f.d.Symlink = func(target, link string) error {
					if tested { // every link after the installs
						return &fs.PathError{Op: "symlink", Path: link, Err: syscall.EIO}
					}
					return os.Symlink(target, link)
				}
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				for _, name := range []string{"a", "b"} {
					wantFailed(t, res, name, "nginx test failed", "restoring the previous files failed", "input/output error")
				}
			},
		},
		{
			desc: "no nginx: hooks only",
			setup: func(t *testing.T, f *deployFixture) {
				f.a.Deploy.Nginx, f.b.Deploy.Nginx = false, false
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantOK(t, res, "a")
				wantOK(t, res, "b")
				f.wantNew(t, f.a)
				f.wantNew(t, f.b)
				want := []string{quote(notifyA), quote(pushA), quote(notifyB)}
				if got := f.runner.argvs(); !slices.Equal(got, want) {
					t.Errorf("runs = %q, want %q", got, want)
				}
				if got := f.prober.asked(); len(got) != 0 {
					t.Errorf("probed %q without nginx", got)
				}
			},
		},
		{
			desc: "nothing to install: hooks point at renewd's live directory",
			setup: func(t *testing.T, f *deployFixture) {
				f.a.Deploy = config.Deploy{Hooks: [][]string{notifyA}, HookTimeout: time.Minute, UID: -1, GID: -1}
				f.b.Deploy.Nginx = false
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantOK(t, res, "a")
				// a's previous files in dir are left alone.
				wantFile(t, filepath.Join(f.dir, "a.fullchain.pem"), f.oldA.files.Fullchain, oldFilePerm)
				wantFile(t, filepath.Join(f.dir, "a.key.pem"), f.oldA.files.Key, oldKeyPerm)
				env, _ := f.runner.envOf(notifyA)
				for _, kv := range []string{
					"RENEWD_FULLCHAIN=" + filepath.Join(f.dir, "live", "a", "fullchain.pem"),
					"RENEWD_KEY=" + filepath.Join(f.dir, "live", "a", "privkey.pem"),
				} {
					if !slices.Contains(env, kv) {
						t.Errorf("hook env %q lacks %q", env, kv)
					}
				}
				if got := f.writes.calls(); slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, "/a.") }) {
					t.Errorf("wrote %q for a certificate without deploy files", got)
				}
			},
		},
		{
			desc: "a failing hook stops the later ones",
			setup: func(t *testing.T, f *deployFixture) {
				f.fail(notifyA, 0, "1\n2\n3\n4\n5\n6\nwebhook: 503 Service Unavailable\n")
			},
			check: func(t *testing.T, f *deployFixture, res map[string]error) {
				wantFailed(t, res, "a", "deploy hook failed", "[/usr/local/bin/notify a]", "3; 4; 5; 6; webhook: 503 Service Unavailable")
				if strings.Contains(res["a"].Error(), "2; 3") {
					t.Errorf("error %q holds more than the last five lines", res["a"])
				}
				wantOK(t, res, "b")
				f.wantRuns(t, pushA, 0)
				f.wantRuns(t, notifyB, 1)
				// The certificate is deployed; a hook does not undo that.
				f.wantNew(t, f.a)
				f.wantRuns(t, nginxReload, 1)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			f := newDeployFixture(t)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			res := f.d.Deploy(context.Background(), []*Item{f.a, f.b})
			tt.check(t, f, res)
			wantOnly(t, f.dir, "a.fullchain.pem", "a.key.pem", "b.fullchain.pem", "b.key.pem", ".renewd-a", ".renewd-b")
		})
	}
}

// TestDeployCancelled: a shutdown during verification still restores and
// reloads nginx onto the previous files.
func TestDeployCancelled(t *testing.T) {
	f := newDeployFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.prober.probe = func(context.Context, string, string, int) ([]*x509.Certificate, error) {
		cancel()
		return f.pki.served(f.oldA), nil
	}
	res := f.d.Deploy(ctx, []*Item{f.a})
	wantFailed(t, res, "a", "serial a0, not the new a1")
	f.wantOld(t, f.a)
	f.wantRuns(t, nginxReload, 2)
	f.wantRuns(t, notifyA, 0)
}

// TestProgressMasksSecrets: a hook's command line, as progress reports
// it, has the secrets renewd knows of masked.
func TestProgressMasksSecrets(t *testing.T) {
	secret.Add("cdn-token-p1p1")
	var got []string
	d := &Deployer{Progress: func(name, step, detail string) { got = append(got, detail) }}
	d.step("a", "hook", quote([]string{"/usr/local/bin/purge", "--token=cdn-token-p1p1"}))
	if want := []string{"[/usr/local/bin/purge --token=********]"}; !slices.Equal(got, want) {
		t.Errorf("progress = %q, want %q", got, want)
	}
}
