package systemd

// Notifier sends a daemon's state changes to systemd with the functions of
// this package, best-effort: its methods return nothing, so a loop can call
// them without caring whether it runs under systemd. It fits the Notifier
// interface of internal/daemon. The zero value is ready to use; outside
// systemd every method does nothing.
type Notifier struct {
	// OnError, when set, receives every notification that could not be
	// sent, for the caller to log. A failing watchdog ping repeats every
	// WatchdogInterval; systemd will restart the service soon anyway.
	OnError func(error)
}

func (n Notifier) report(_ bool, err error) {
	if err != nil && n.OnError != nil {
		n.OnError(err)
	}
}

// Ready sends READY=1; see the function Ready.
func (n Notifier) Ready() { n.report(Ready()) }

// Reloading sends RELOADING=1 with MONOTONIC_USEC; see the function
// Reloading. Call Ready when the reload is over, whatever its outcome.
func (n Notifier) Reloading() { n.report(Reloading()) }

// Stopping sends STOPPING=1; see the function Stopping.
func (n Notifier) Stopping() { n.report(Stopping()) }

// Status sets the line `systemctl status` shows; see the function Status.
func (n Notifier) Status(msg string) { n.report(Status(msg)) }

// Watchdog sends WATCHDOG=1; see the function Watchdog.
func (n Notifier) Watchdog() { n.report(Watchdog()) }
