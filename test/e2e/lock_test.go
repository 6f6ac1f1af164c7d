package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/store"
)

// waitingLine is what `renew` prints when another renewd holds the lock.
const waitingLine = "waiting for the running renewal"

// holdLock takes <storage>/renewd.lock the way another renewd process does,
// an exclusive flock on its own open file, creating the storage layout
// first if needed. It returns the release, also run at cleanup.
func holdLock(t *testing.T, storage string) (release func()) {
	t.Helper()
	if _, err := store.Open(storage); err != nil {
		t.Fatal(err)
	}
	// os.OpenFile sets O_CLOEXEC: the renewd processes this test starts do
	// not inherit the descriptor, so only this open file holds the lock.
	f, err := os.OpenFile(filepath.Join(storage, "renewd.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		t.Fatalf("take the storage lock: %v", err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			// LOCK_UN frees the lock even if a child forked by a parallel
			// test still has a copy of the descriptor before its exec.
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			_ = f.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// lockHeld reports whether some process holds <storage>/renewd.lock, by
// trying it without waiting (and letting go at once when that works).
func lockHeld(storage string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(storage, "renewd.lock"), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true, nil
	default:
		return false, err
	}
}

// TestWaitRunsOut: while another renewd holds the lock, `renew --now
// --wait 1s` says it waits, gives up with exit 3 and orders nothing; once
// the lock is free the same command renews.
func TestWaitRunsOut(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	w := newWorkspace(t, acmeSettings{directory: pb.DirURL, rootFile: pb.RootFile})
	w.addCert("busy", listenCert(pb.HTTPPort, "busy.lock.example.com"))
	w.mustRenew("renew", "--now")
	stateBefore := w.stateBytes()
	versionsBefore := versions(t, w.storage, "busy")

	release := holdLock(t, w.storage)
	res := w.renewd("renew", "--now", "--wait", "1s")
	if res.code != 3 || !strings.Contains(res.stderr, waitingLine) || !strings.Contains(res.stderr, "still running after 1s") {
		t.Errorf("--wait ran out: want exit 3, the waiting line and the give-up message, got %s", res)
	}
	if !bytes.Equal(w.stateBytes(), stateBefore) {
		t.Error("the records changed although renewd never got the lock")
	}
	if v := versions(t, w.storage, "busy"); len(v) != len(versionsBefore) {
		t.Errorf("an order was made without the lock: versions %v -> %v", versionsBefore, v)
	}

	release()
	res = w.mustRenew("renew", "--now", "--wait", "1s")
	if strings.Contains(res.stderr, waitingLine) {
		t.Errorf("renewd waited for a free lock:\n%s", res)
	}
	if v := versions(t, w.storage, "busy"); len(v) != len(versionsBefore)+1 {
		t.Errorf("with the lock free: versions %v -> %v, want one more", versionsBefore, v)
	}
	w.checkComplete("busy", []string{"busy.lock.example.com"}, 1)
}

// TestLockHolderKilled: a renewd killed with SIGKILL while it holds the lock
// (stuck on a CA that never answers) leaves nothing to clean up: the next
// `renew --now` takes the lock at once.
func TestLockHolderKilled(t *testing.T) {
	t.Parallel()
	pb := startPebble(t, pebbleOpts{})
	hang, _ := hangingServer(t)
	hangURL := "https://" + hang + "/dir"
	w := newWorkspace(t, acmeSettings{directory: hangURL, rootFile: pb.RootFile})
	w.addCert("killed", listenCert(pb.HTTPPort, "killed.lock.example.com"))

	cmd := exec.Command(env.renewd, "--config", w.config, "renew", "--now")
	cmd.Env = append(os.Environ(), "RENEWD_CONFIG=")
	var out bytes.Buffer
	lw := &lockedWriter{w: &out}
	cmd.Stdout, cmd.Stderr = lw, lw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	if err := waitFor("the stuck renewd to hold the lock", 30*time.Second, func() error {
		held, err := lockHeld(w.storage)
		if err != nil || held {
			return err
		}
		return errors.New("lock free")
	}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-done
	done <- err // for the cleanup
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		outMu.Lock()
		text := out.String()
		outMu.Unlock()
		t.Fatalf("the lock holder was not killed while running (%v):\n%s", err, text)
	}

	// The operator points renewd at a CA that works; the lock is free.
	w.writeGlobal(strings.Replace(string(mustRead(t, w.config)), hangURL, pb.DirURL, 1))
	start := time.Now()
	res := w.mustRenew("renew", "--now")
	if strings.Contains(res.stderr, waitingLine) {
		t.Errorf("renewd waited for the lock of a killed process (%s):\n%s", time.Since(start), res)
	}
	w.checkComplete("killed", []string{"killed.lock.example.com"}, 1)
}
