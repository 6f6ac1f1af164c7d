package systemd_test

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/renewd/renewd/internal/daemon"
	"github.com/renewd/renewd/internal/systemd"
)

// The daemon loop is the Notifier's user; this keeps the two in step.
var _ daemon.Notifier = systemd.Notifier{}

func TestNotifierSendsInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)

	var errs []error
	n := systemd.Notifier{OnError: func(err error) { errs = append(errs, err) }}
	n.Ready()
	n.Status("1 renewed, 3 not due")
	n.Watchdog()
	n.Stopping()

	buf := make([]byte, 512)
	for _, want := range []string{"READY=1", "STATUS=1 renewed, 3 not due", "WATCHDOG=1", "STOPPING=1"} {
		if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if got := string(buf[:k]); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if len(errs) > 0 {
		t.Errorf("OnError got %v", errs)
	}
}

func TestNotifierReportsFailures(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody-listens.sock"))
	var errs []error
	n := systemd.Notifier{OnError: func(err error) { errs = append(errs, err) }}
	n.Watchdog()
	n.Reloading()
	if len(errs) != 2 {
		t.Fatalf("OnError called %d times, want 2", len(errs))
	}
	var opErr *net.OpError
	if !errors.As(errs[0], &opErr) {
		t.Errorf("error %v does not wrap the *net.OpError", errs[0])
	}
	systemd.Notifier{}.Ready() // no OnError: a failure is dropped, no panic
}

func TestNotifierOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	called := false
	n := systemd.Notifier{OnError: func(error) { called = true }}
	n.Ready()
	n.Reloading()
	n.Status("x")
	n.Watchdog()
	n.Stopping()
	if called {
		t.Error("OnError called without NOTIFY_SOCKET")
	}
}
