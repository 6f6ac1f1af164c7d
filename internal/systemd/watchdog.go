package systemd

import (
	"math"
	"os"
	"strconv"
	"time"
)

// WatchdogInterval reports how often to call Watchdog: half of the
// WatchdogSec= timeout systemd passed in $WATCHDOG_USEC, the margin
// sd_watchdog_enabled(3) recommends. ok is false when the watchdog is off:
// WATCHDOG_USEC unset, not a positive integer, or WATCHDOG_PID set to
// another process (a child such as a hook inherited the environment; only
// the main process pings).
func WatchdogInterval() (time.Duration, bool) {
	return watchdogPeriod(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

// watchdogPeriod is WatchdogInterval for given values of the two variables
// and the caller's pid.
func watchdogPeriod(usecEnv, pidEnv string, self int) (time.Duration, bool) {
	if usecEnv == "" {
		return 0, false
	}
	usec, err := strconv.ParseUint(usecEnv, 10, 64)
	if err != nil || usec == 0 || usec > math.MaxInt64/uint64(time.Microsecond) {
		return 0, false
	}
	if pidEnv != "" {
		pid, err := strconv.Atoi(pidEnv)
		if err != nil || pid <= 0 || pid != self {
			return 0, false
		}
	}
	return time.Duration(usec) * time.Microsecond / 2, true
}
