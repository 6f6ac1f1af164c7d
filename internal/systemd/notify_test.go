package systemd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen makes a unixgram socket that stands in for systemd's notify socket
// and sets NOTIFY_SOCKET to it. name is a path, or "@..." for an abstract
// socket.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return conn
}

// receive reads one datagram, failing the test after a second.
func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotifyMessages(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	for _, tc := range []struct {
		desc string
		send func() (bool, error)
		want string
	}{
		{"ready", Ready, "READY=1"},
		{"stopping", Stopping, "STOPPING=1"},
		{"watchdog", Watchdog, "WATCHDOG=1"},
		{"status", func() (bool, error) { return Status("2 certificates, next renewal 2026-11-21T16:00:00Z") },
			"STATUS=2 certificates, next renewal 2026-11-21T16:00:00Z"},
		{"status cannot inject an assignment", func() (bool, error) { return Status("order failed:\nREADY=1\r\tx") },
			"STATUS=order failed: READY=1  x"},
		{"status keeps UTF-8", func() (bool, error) { return Status("续期 shop ✓") }, "STATUS=续期 shop ✓"},
		{"raw multi-line state", func() (bool, error) { return Notify("READY=1\nSTATUS=up") }, "READY=1\nSTATUS=up"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ok, err := tc.send()
			if !ok || err != nil {
				t.Fatalf("got (%v, %v), want (true, nil)", ok, err)
			}
			if got := receive(t, conn); got != tc.want {
				t.Errorf("sent %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReloadingCarriesMonotonicUsec(t *testing.T) {
	conn := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	before := monotonicUsec()
	if ok, err := Reloading(); !ok || err != nil {
		t.Fatalf("Reloading() = (%v, %v), want (true, nil)", ok, err)
	}
	after := monotonicUsec()

	got := receive(t, conn)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("sent %q, want RELOADING=1 and MONOTONIC_USEC=<usec> on two lines", got)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil {
		t.Fatalf("MONOTONIC_USEC is not a decimal integer: %q", lines[1])
	}
	if usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC=%d, want within [%d, %d] (CLOCK_MONOTONIC µs)", usec, before, after)
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@renewd-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn := listen(t, name)
	if ok, err := Ready(); !ok || err != nil {
		t.Fatalf("Ready() = (%v, %v), want (true, nil)", ok, err)
	}
	if got := receive(t, conn); got != "READY=1" {
		t.Errorf("sent %q, want READY=1", got)
	}
}

func TestNotifyNotUnderSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	for name, send := range map[string]func() (bool, error){
		"Ready": Ready, "Stopping": Stopping, "Reloading": Reloading, "Watchdog": Watchdog,
		"Status": func() (bool, error) { return Status("x") },
	} {
		if ok, err := send(); ok || err != nil {
			t.Errorf("%s() without NOTIFY_SOCKET = (%v, %v), want (false, nil)", name, ok, err)
		}
	}
}

func TestNotifyErrors(t *testing.T) {
	for _, tc := range []struct {
		desc, socket string
		wantErr      string
	}{
		{"nobody listens", filepath.Join(t.TempDir(), "gone.sock"), "no such file"},
		{"relative path", "notify.sock", "only unix socket paths"},
		{"vsock", "vsock:2:1234", "only unix socket paths"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tc.socket)
			ok, err := Ready()
			if ok || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Ready() = (%v, %v), want false and an error containing %q", ok, err, tc.wantErr)
			}
		})
	}
}

func TestNotifyListenerClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn := listen(t, path)
	conn.Close() // the socket file stays, nobody reads it: ECONNREFUSED
	ok, err := Ready()
	if ok || err == nil {
		t.Fatalf("Ready() = (%v, %v), want false and an error", ok, err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %v does not wrap the *net.OpError", err)
	}
}
