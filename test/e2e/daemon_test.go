package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemonProc is a `renewd run` started in the background.
type daemonProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func (w *workspace) startDaemon() *daemonProc {
	w.t.Helper()
	cmd := exec.Command(env.renewd, "--config", w.config, "run")
	cmd.Env = append(append(os.Environ(), "RENEWD_CONFIG=", "NOTIFY_SOCKET="), w.env...)
	out := &bytes.Buffer{}
	lw := &lockedWriter{w: out} // one writer: exec then copies both streams in one goroutine
	cmd.Stdout, cmd.Stderr = lw, lw
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	d := &daemonProc{t: w.t, cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait() }()
	w.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-d.done
		if w.t.Failed() {
			w.t.Logf("daemon output:\n%s", d.output())
		}
	})
	return d
}

func (d *daemonProc) output() string {
	outMu.Lock()
	defer outMu.Unlock()
	return d.out.String()
}

// stop sends sig and returns the exit code, failing after a bound.
func (d *daemonProc) stop(sig syscall.Signal, within time.Duration) int {
	d.t.Helper()
	_ = d.cmd.Process.Signal(sig)
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(within):
		d.t.Fatalf("renewd run did not exit within %s of %v", within, sig)
		return -1
	}
}

// waitState polls the records (as a monitoring script would) until cond
// holds for the record of name.
func (w *workspace) waitState(name, what string, cond func(map[string]any) bool) map[string]any {
	w.t.Helper()
	var rec map[string]any
	err := waitFor(what, 60*time.Second, func() error {
		st, err := readRecords(w.storage)
		if err != nil {
			return err
		}
		rec = st[name]
		if rec == nil || !cond(rec) {
			return fmt.Errorf("state of %s: %v", name, rec)
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return rec
}

func (d *daemonProc) waitOutput(what string) {
	d.t.Helper()
	if err := waitFor(what, 60*time.Second, func() error {
		if !strings.Contains(d.output(), what) {
			return fmt.Errorf("not in the daemon's log yet")
		}
		return nil
	}); err != nil {
		d.t.Fatal(err)
	}
}

// TestDaemonLifecycle: the daemon issues at start; a second daemon is
// refused; SIGHUP with a broken configuration keeps the old one; SIGHUP
// with a new certificate issues it at once; SIGTERM exits 0.
func TestDaemonLifecycle(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("first", listenCert(pb.HTTPPort, "first.daemon.example.com"))
	d := w.startDaemon()
	w.waitState("first", "first certificate issued by the daemon", func(r map[string]any) bool { return r["serial"] != nil })
	w.checkComplete("first", []string{"first.daemon.example.com"}, 1)

	res := w.renewd("run")
	if res.code != 3 || !strings.Contains(res.stderr, "another `renewd run`") {
		t.Errorf("a second daemon: want exit 3 and a clear message, got %s", res)
	}

	// `renew --now` works next to the daemon: it waits for the daemon's lock, not its life.
	w.mustRenew("renew", "--now", "--wait", "1m", "first")

	good := listenCert(pb.HTTPPort, "second.daemon.example.com")
	w.addCert("second", "domains: [second.daemon.example.com\n") // broken YAML
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitOutput("reload failed")
	if d.cmd.ProcessState != nil {
		t.Fatal("the daemon died on a broken configuration")
	}
	w.addCert("second", good)
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	w.waitState("second", "second certificate issued after SIGHUP", func(r map[string]any) bool { return r["serial"] != nil })

	if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d, want 0", code)
	}
}

// TestDaemonRetriesSurviveRestart: with the CA down, each daemon start
// records one more failure; the count and next retry persist across
// restarts, and nothing is retried before next_retry_time.
func TestDaemonRetriesSurviveRestart(t *testing.T) {
	t.Parallel()
	w := newWorkspace(t, acmeSettings{directory: fmt.Sprintf("https://127.0.0.1:%d/dir", freePort(t)), rootFile: env.tlsCAFile,
		retry: "{initial: 1ms, max: 1ms}"})
	w.addCert("down", listenCert(freePort(t), "down.daemon.example.com"))
	for want := 1; want <= 3; want++ {
		d := w.startDaemon()
		w.waitState("down", fmt.Sprintf("retry_count %d", want), func(r map[string]any) bool { return r["retry_count"] == float64(want) })
		if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Fatalf("SIGTERM: exit %d", code)
		}
	}

	// A long backoff is honoured after a restart: no attempt before next_retry_time.
	w.writeGlobal(strings.Replace(string(mustRead(t, w.config)), "retry: {initial: 1ms, max: 1ms}", "retry: {initial: 1h, max: 24h}", 1))
	w.renewd("renew", "--now") // failure 4 sets next_retry_time an hour (or more) away
	d := w.startDaemon()
	d.waitOutput("renewal pass done")
	if code := d.stop(syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	if st := w.state()["down"]; st["retry_count"] != float64(4) {
		t.Errorf("the daemon retried before next_retry_time: retry_count %v, want 4", st["retry_count"])
	}
}

// TestSIGTERMMidRun: a daemon stuck on a CA that never answers stops at
// once on SIGTERM, exits 0, and records no failure for the interrupted
// certificate.
func TestSIGTERMMidRun(t *testing.T) {
	t.Parallel()
	hang, conns := hangingServer(t)
	w := newWorkspace(t, acmeSettings{directory: "https://" + hang + "/dir", rootFile: env.tlsCAFile})
	w.addCert("stuck", listenCert(freePort(t), "stuck.daemon.example.com"))
	d := w.startDaemon()
	d.waitOutput("renewd started")
	if err := waitFor("the daemon's request to the CA", 30*time.Second, func() error {
		if conns.Load() == 0 {
			return errors.New("no connection yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code := d.stop(syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("SIGTERM mid-run: exit %d, want 0", code)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("stopping took %s", took)
	}
	if data := w.stateBytes(); bytes.Contains(data, []byte(`"retry_count": 1`)) {
		t.Errorf("an interrupted renewal was recorded as a failure:\n%s", data)
	}
}

// TestCanaryHoldsTheRest: a canary whose challenge fails holds the main
// certificates, which stay untouched on disk and in state.
func TestCanaryHoldsTheRest(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("main", listenCert(pb.HTTPPort, "main.canary.example.com"))
	w.mustRenew("renew", "--now", "main")
	oldTarget := w.liveTarget("main")

	// The canary answers on a port Pebble does not check: its challenge fails.
	w.addCert("canary", "canary: true\n"+listenCert(freePort(t), "canary.canary.example.com"))
	res := w.renewd("renew", "--now", "main")
	if res.code != 1 || !strings.Contains(res.stdout, "held") {
		t.Fatalf("want exit 1 with main held by the canary, got %s", res)
	}
	if got := w.liveTarget("main"); got != oldTarget {
		t.Errorf("main moved from %s to %s although it was held", oldTarget, got)
	}
	st := w.state()
	if main := st["main"]; main["retry_count"] != float64(0) || !strings.Contains(fmt.Sprint(main["held_by"]), "canary") {
		t.Errorf("main's state: %v", main)
	}
	if st["canary"]["retry_count"] != float64(1) {
		t.Errorf("canary's state: %v", st["canary"])
	}
	status := w.mustRenew("status")
	if !strings.Contains(status.stdout, "held: canary canary") {
		t.Errorf("status does not show main held by the canary:\n%s", status.stdout)
	}
	// --skip-canary renews it anyway, loudly.
	res = w.renewd("renew", "--now", "--skip-canary", "main")
	if !strings.Contains(res.stderr, "WARNING") || w.liveTarget("main") == oldTarget {
		t.Errorf("--skip-canary: %s", res)
	}
}

// TestConcurrentRenewNow: a daemon and two `renew --now` at once, all
// waiting on the lock another renewd holds, give exactly one issuance of a
// certificate that is due. It is due by renew_before for the 6-day
// certificate it has and would not be for the 90-day one a renewal brings,
// so the daemon's pass, which is not forced, renews it only if nobody did
// before it; the `renew --now` that waited skip a certificate renewed
// meanwhile. Whichever order the three take the lock in, one issuance.
func TestConcurrentRenewNow(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	proxy := startProxy(t, pb)
	w := newWorkspace(t, acmeSettings{directory: proxy.dirURL, rootFile: pb.RootFile, profile: "shortlived"})
	w.addCert("one", "renew_before: 720h\n"+listenCert(pb.HTTPPort, "one.concurrent.example.com"))
	w.mustRenew("renew", "--now")
	w.writeGlobal(strings.Replace(string(mustRead(t, w.config)), "profile: shortlived\n", "profile: default\n", 1))
	first := w.liveLeaf("one")
	if life := first.NotAfter.Sub(first.NotBefore); life > 720*time.Hour {
		t.Fatalf("the first certificate lives %s, want under renew_before 720h so that it is due", life)
	}
	base := proxy.certs.Load()
	versions0 := versions(t, w.storage, "one")

	// Another renewd holds the lock while all three start and queue up.
	release := holdLock(t, w.storage)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type out struct {
		code int
		text string
	}
	results := make(chan out, 2)
	var outs [2]*bytes.Buffer
	for i := range outs {
		outs[i] = &bytes.Buffer{}
		cmd := exec.CommandContext(ctx, env.renewd, "--config", w.config, "renew", "--now", "--wait", "1m")
		cmd.Env = append(os.Environ(), "RENEWD_CONFIG=")
		lw := &lockedWriter{w: outs[i]}
		cmd.Stdout, cmd.Stderr = lw, lw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			err := cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			outMu.Lock()
			text := outs[i].String()
			outMu.Unlock()
			results <- out{code, text}
		}()
	}
	d := w.startDaemon()
	if err := waitFor("both renew --now waiting for the lock", 60*time.Second, func() error {
		outMu.Lock()
		defer outMu.Unlock()
		for _, b := range outs {
			if !strings.Contains(b.String(), "waiting for the running renewal") {
				return fmt.Errorf("not waiting yet: %q", b.String())
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d.waitOutput("renewd started") // its first pass follows at once, on the lock
	release()

	for range 2 {
		if r := <-results; r.code != 0 {
			t.Errorf("renew --now: exit %d\n%s", r.code, r.text)
		}
	}
	d.waitOutput("renewal pass done")
	if n := proxy.certs.Load() - base; n != 1 {
		t.Errorf("%d issuances for one certificate from two renew --now and a daemon, want 1", n)
	}
	if v := versions(t, w.storage, "one"); len(v) != len(versions0)+1 {
		t.Errorf("versions %v -> %v, want exactly one more", versions0, v)
	}
	leaf := w.liveLeaf("one")
	if leaf.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("the live certificate did not change")
	}
	if st := w.state()["one"]; st["serial"] != fmt.Sprintf("%x", leaf.SerialNumber) {
		t.Errorf("record serial %v, live %x", st["serial"], leaf.SerialNumber)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life <= 720*time.Hour {
		t.Errorf("the new certificate lives %s: not from the default profile, so it would still be due", life)
	}
	w.checkComplete("one", []string{"one.concurrent.example.com"}, 1)
}
