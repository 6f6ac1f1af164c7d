// Package daemon is the loop behind `renewd run`: a renewal pass at start
// and on every tick of the cron schedule, configuration reloads on SIGHUP,
// systemd readiness and watchdog pings, and a bounded, clean shutdown. What
// a pass does is the caller's (Runtime.Renew); when it runs is decided here.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// ErrStopTimeout: a stop did not see the running pass end in time.
var ErrStopTimeout = errors.New("the running renewal pass did not end within the stop timeout")

// Runtime is what one configuration gives the daemon.
type Runtime struct {
	// Schedule is a robfig/cron/v3 spec ("@every 1h", "17 */6 * * *").
	Schedule string
	// Renew runs one renewal pass (taking the storage lock itself) and
	// returns a one-line summary. It must honour ctx.
	Renew func(ctx context.Context) (string, error)
	// Kick, when not nil, asks for a pass now, outside the schedule: a
	// cluster node that has just become the leader.
	Kick <-chan struct{}
}

// Loader builds a Runtime from the configuration; it is called at start
// and on every reload. A reload that fails keeps the previous Runtime.
type Loader func() (*Runtime, error)

// Notifier tells the service manager about the daemon's state; the
// systemd package implements it. All methods are best-effort.
type Notifier interface {
	Ready()
	Reloading()
	Stopping()
	Status(string)
	Watchdog()
}

// Daemon runs renewal passes on a schedule.
type Daemon struct {
	Load   Loader
	Log    *zap.Logger
	Notify Notifier // may be nil
	// WatchdogEvery is how often to ping the watchdog; 0 = never.
	WatchdogEvery time.Duration
	// StopTimeout bounds how long a stop waits for a running pass to
	// finish or roll back (default 30s).
	StopTimeout time.Duration
	// Idle, when set, is called after every pass, before the daemon waits
	// for the next one: renewd gives memory back to the kernel there
	// (internal/memtrim). It runs in the pass's goroutine.
	Idle func()

	// Test seams; zero values are the real ones.
	Now      func() time.Time                     // the wall clock
	After    func(time.Duration) <-chan time.Time // a timer
	MaxSleep time.Duration                        // longest sleep between wall-clock reads (default 1m)
}

func (d *Daemon) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	// Round(0) drops the monotonic reading: the schedule is about the wall
	// clock, which keeps moving while a machine is suspended.
	return time.Now().Round(0)
}

func (d *Daemon) after(t time.Duration) <-chan time.Time {
	if d.After != nil {
		return d.After(t)
	}
	return time.After(t)
}

func (d *Daemon) notify(f func(Notifier)) {
	if d.Notify != nil {
		f(d.Notify)
	}
}

// Run loads the configuration, says ready, runs a pass at once and then on
// the schedule until ctx ends. hup triggers a reload. It returns nil after
// a clean stop, and an error only when the first load fails.
func (d *Daemon) Run(ctx context.Context, hup <-chan struct{}) error {
	rt, sched, err := d.load()
	if err != nil {
		return err
	}
	d.notify(Notifier.Ready)
	d.Log.Info("renewd started", zap.String("schedule", rt.Schedule))

	var watchdog <-chan time.Time
	if d.WatchdogEvery > 0 {
		t := time.NewTicker(d.WatchdogEvery)
		defer t.Stop()
		watchdog = t.C
	}

	passDone := make(chan struct{})
	running, kicked := d.startPass(ctx, rt, passDone), false
	now := d.now()
	next := sched.Next(now)
	for {
		wait := min(next.Sub(now), d.maxSleep())
		select {
		case <-ctx.Done():
			return d.stop(running, passDone)
		case <-passDone:
			running = false
			if kicked { // asked for (a kick, a reload) while that pass ran: run one now
				kicked, running = false, d.startPass(ctx, rt, passDone)
			}
		case <-hup:
			if nrt, nsched, err := d.reload(); err == nil {
				rt, sched = nrt, nsched
				next = sched.Next(d.now())
				// A certificate added to domains.d should not wait for
				// the next tick. A pass still running was planned with
				// the old configuration: one more runs when it ends.
				if running {
					kicked = true
				} else {
					running = d.startPass(ctx, rt, passDone)
				}
			}
		case <-rt.Kick:
			if running {
				kicked = true
			} else {
				running = d.startPass(ctx, rt, passDone)
			}
		case <-watchdog:
			d.notify(Notifier.Watchdog)
		case <-d.after(max(wait, 0)):
		}
		prev := now
		now = d.now()
		if now.Before(prev) {
			// The clock went back: the next tick planned from the old
			// time could be far away. Plan again from now.
			next = sched.Next(now)
		}
		if !now.Before(next) {
			// Due. However long the machine slept, this is one pass, and
			// the next tick is planned from now: catching up, no storm.
			if running {
				d.Log.Info("previous pass still running; skipping this tick")
			} else {
				running = d.startPass(ctx, rt, passDone)
			}
			next = sched.Next(now)
		}
	}
}

func (d *Daemon) maxSleep() time.Duration {
	if d.MaxSleep > 0 {
		return d.MaxSleep
	}
	return time.Minute
}

func (d *Daemon) load() (*Runtime, cron.Schedule, error) {
	rt, err := d.Load()
	if err != nil {
		return nil, nil, err
	}
	sched, err := cron.ParseStandard(rt.Schedule)
	if err != nil {
		return nil, nil, fmt.Errorf("schedule %q: %w", rt.Schedule, err)
	}
	return rt, sched, nil
}

// reload re-reads the configuration; a broken one is reported and the old
// one kept, so a typo cannot take the daemon down.
func (d *Daemon) reload() (*Runtime, cron.Schedule, error) {
	d.notify(Notifier.Reloading)
	defer d.notify(Notifier.Ready)
	rt, sched, err := d.load()
	if err != nil {
		d.Log.Error("reload failed; keeping the previous configuration", zap.Error(err))
		d.notify(func(n Notifier) { n.Status("reload failed; running on the previous configuration") })
		return nil, nil, err
	}
	d.Log.Info("configuration reloaded", zap.String("schedule", rt.Schedule))
	return rt, sched, nil
}

// startPass runs one pass in the background and signals done when it ends.
func (d *Daemon) startPass(ctx context.Context, rt *Runtime, done chan<- struct{}) bool {
	go func() {
		defer func() { done <- struct{}{} }()
		d.pass(ctx, rt)
	}()
	return true
}

// pass runs rt.Renew, turning a panic into a logged error: a daemon that
// runs for years must survive a bug hit by one pass.
func (d *Daemon) pass(ctx context.Context, rt *Runtime) {
	defer func() {
		if p := recover(); p != nil {
			d.Log.Error("renewal pass panicked", zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
		}
	}()
	start := time.Now()
	summary, err := rt.Renew(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		d.Log.Info("renewal pass interrupted by shutdown", zap.Error(err))
	case err != nil:
		d.Log.Error("renewal pass failed", zap.Error(err), zap.Duration("duration", time.Since(start)))
		d.notify(func(n Notifier) { n.Status("last pass failed: " + err.Error()) })
	default:
		d.Log.Info("renewal pass done", zap.String("summary", summary), zap.Duration("duration", time.Since(start)))
		d.notify(func(n Notifier) { n.Status(summary) })
	}
	if d.Idle != nil {
		d.Idle()
	}
}

// stop waits (bounded) for a running pass: its context is already
// cancelled, so it is rolling back or finishing its writes.
func (d *Daemon) stop(running bool, done <-chan struct{}) error {
	d.notify(Notifier.Stopping)
	if !running {
		d.Log.Info("renewd stopped")
		return nil
	}
	timeout := d.StopTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	select {
	case <-done:
		d.Log.Info("renewd stopped after the running pass ended")
		return nil
	case <-time.After(timeout):
		return ErrStopTimeout
	}
}
