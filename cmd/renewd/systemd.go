package main

import (
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/daemon"
	"github.com/renewd/renewd/internal/systemd"
)

// wireSystemd connects the daemon to systemd's notify protocol: READY=1
// once the configuration is loaded (Type=notify waits for it), RELOADING
// and STOPPING around those, the last pass as STATUS, and watchdog pings
// when the unit sets WatchdogSec. Outside systemd all of it does nothing.
func wireSystemd(d *daemon.Daemon) {
	d.Notify = systemd.Notifier{OnError: func(err error) { d.Log.Warn("sd_notify failed", zap.Error(err)) }}
	if every, ok := systemd.WatchdogInterval(); ok {
		d.WatchdogEvery = every
	}
}
