// Package systemd speaks the small part of systemd's protocols that renewd
// needs when it runs as a service: sd_notify(3) readiness, reload, stopping,
// status and watchdog messages over $NOTIFY_SOCKET, the watchdog period from
// $WATCHDOG_USEC (sd_watchdog_enabled(3)), and whether stderr goes to the
// journal ($JOURNAL_STREAM).
//
// It is written against the documented protocol rather than libsystemd or
// go-systemd, so renewd keeps no cgo and no extra dependency. Outside systemd
// (a terminal, cron, a container) every function is a cheap no-op: Notify
// returns false and a nil error, WatchdogInterval and UnderJournald return
// false.
//
// The daemon's sequence with deploy/systemd/renewd.service (Type=notify,
// ExecReload=kill -HUP $MAINPID, WatchdogSec=):
//
//	configuration loaded, lock taken, loop ready   Ready(), Status("...")
//	every WatchdogInterval(), from the main loop   Watchdog()
//	SIGHUP                                         Reloading(), reload, Ready()
//	SIGTERM                                        Stopping(), finish or roll back
//
// Notifier wraps the same messages as methods without results, the shape
// the loop in internal/daemon calls.
//
// Limits: only unix datagram sockets (a path, or an abstract name written
// with a leading '@') are supported, not the vsock: addresses systemd 253+
// may hand to virtual machines; no file descriptors or credentials are
// passed; and NOTIFY_SOCKET is left in the environment, so children (nginx,
// hooks) inherit it, which is harmless because the unit keeps the default
// NotifyAccess=main and systemd ignores messages from other processes.
package systemd
