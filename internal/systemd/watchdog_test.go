package systemd

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestWatchdogPeriod(t *testing.T) {
	const self = 4242
	for _, tc := range []struct {
		desc       string
		usec, pid  string
		wantPeriod time.Duration
		wantOK     bool
	}{
		{desc: "unset: no watchdog"},
		{desc: "WatchdogSec=5min, pid unset", usec: "300000000", wantPeriod: 150 * time.Second, wantOK: true},
		{desc: "WatchdogSec=5min, our pid", usec: "300000000", pid: "4242", wantPeriod: 150 * time.Second, wantOK: true},
		{desc: "another process's watchdog (inherited by a hook)", usec: "300000000", pid: "1"},
		{desc: "odd microseconds round down", usec: "3", wantPeriod: 1500 * time.Nanosecond, wantOK: true},
		{desc: "zero", usec: "0"},
		{desc: "negative", usec: "-5"},
		{desc: "not a number", usec: "5min"},
		{desc: "with spaces", usec: " 300000000"},
		{desc: "overflows time.Duration", usec: "18446744073709551615"},
		{desc: "pid not a number", usec: "300000000", pid: "main"},
		{desc: "pid zero", usec: "300000000", pid: "0"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			period, ok := watchdogPeriod(tc.usec, tc.pid, self)
			if period != tc.wantPeriod || ok != tc.wantOK {
				t.Errorf("watchdogPeriod(%q, %q) = (%v, %v), want (%v, %v)", tc.usec, tc.pid, period, ok, tc.wantPeriod, tc.wantOK)
			}
		})
	}
}

func TestWatchdogIntervalFromEnvironment(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "60000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if period, ok := WatchdogInterval(); !ok || period != 30*time.Second {
		t.Errorf("WatchdogInterval() = (%v, %v), want (30s, true)", period, ok)
	}
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	if period, ok := WatchdogInterval(); ok {
		t.Errorf("WatchdogInterval() with another WATCHDOG_PID = (%v, true), want false", period)
	}
}
