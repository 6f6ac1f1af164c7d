package systemd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// sendTimeout bounds one notification. The service manager reads its
// socket promptly; a full socket buffer must not stall the daemon's loop.
const sendTimeout = 2 * time.Second

// Notify sends state, one or more newline-separated VAR=VALUE assignments
// (sd_notify(3)), to the service manager at $NOTIFY_SOCKET. It returns false
// and a nil error when the variable is unset: the process does not run under
// systemd (or under a unit whose Type= asks for notifications), which is not
// an error. It returns false and an error when the socket is set but the
// message could not be sent. A name starting with '@' is an abstract socket.
// Each call dials its own socket, so Notify is safe for concurrent use.
func Notify(state string) (bool, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		// systemd 253+ may pass "vsock:CID:PORT" to a virtual machine.
		return false, fmt.Errorf("sd_notify: NOTIFY_SOCKET=%q: only unix socket paths and @abstract names are supported", addr)
	}
	// Go turns a leading '@' into the NUL byte of an abstract address.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	n, err := conn.Write([]byte(state))
	if err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	if n != len(state) {
		return false, errors.New("sd_notify: short write")
	}
	return true, nil
}

// Ready tells systemd that start-up is finished (READY=1): with Type=notify
// `systemctl start renewd` returns, and units ordered after renewd start,
// only now. Call it once the configuration is loaded and the loop runs, and
// again after every reload.
func Ready() (bool, error) { return Notify("READY=1") }

// Stopping tells systemd that the service is shutting down (STOPPING=1), so
// `systemctl status` shows "deactivating" while an in-flight deploy
// finishes or rolls back within TimeoutStopSec.
func Stopping() (bool, error) { return Notify("STOPPING=1") }

// Reloading tells systemd that a configuration reload began (RELOADING=1),
// with MONOTONIC_USEC set to the current CLOCK_MONOTONIC time in
// microseconds. systemd 253+ uses that timestamp to tie the message to the
// reload it started (Type=notify-reload) and may ignore a RELOADING=1 that
// lacks it; older versions ignore the field, so it is always sent.
//
// The unit renewd ships is Type=notify with ExecReload=/bin/kill -HUP
// $MAINPID, because systemd 252 and older (Debian 12, RHEL 9) have no
// notify-reload. There `systemctl reload` returns as soon as kill exits,
// systemd shows the unit as "reloading" from this message on, and what
// matters is that Ready follows when the reload is done, whether it
// succeeded or not: until READY=1 arrives the unit stays "reloading".
func Reloading() (bool, error) {
	return Notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
}

// Status sets the one-line free-form status that `systemctl status renewd`
// shows (STATUS=...). Newlines and other control characters in msg become
// spaces: a newline would start another assignment, so an error text could
// otherwise send READY=1 or STOPPING=1 by accident.
func Status(msg string) (bool, error) {
	return Notify("STATUS=" + oneLine(msg))
}

// Watchdog pings the service manager's watchdog (WATCHDOG=1). With
// WatchdogSec= in the unit, systemd kills and restarts the service when no
// ping arrives in time; send one every WatchdogInterval() from the loop
// whose liveness it should prove, not from a goroutine of its own.
func Watchdog() (bool, error) { return Notify("WATCHDOG=1") }

// oneLine replaces control characters (newlines included) with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, the clock systemd uses
// for MONOTONIC_USEC. Go's time package keeps its monotonic reading
// private, so it is read here.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0 // cannot fail on Linux for CLOCK_MONOTONIC
	}
	return ts.Sec*1_000_000 + ts.Nsec/1_000
}
