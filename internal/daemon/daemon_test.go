package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// fakeClock has a wall clock and a monotonic clock. Timers run on the
// monotonic one, as Go's do; Jump moves only the wall clock, as a suspend
// (on Linux the monotonic clock stops) or an NTP step does.
type fakeClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	wall    time.Time
	mono    time.Duration
	waiters []waiter
	regs    int // timers registered so far: one per loop iteration
}

type waiter struct {
	at time.Duration
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{wall: t}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.mono + d, ch})
	c.regs++
	c.cond.Broadcast()
	return ch
}

// Advance moves both clocks and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall, c.mono = c.wall.Add(d), c.mono+d
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at <= c.mono {
			w.ch <- c.wall
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// Jump moves the wall clock only.
func (c *fakeClock) Jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = c.wall.Add(d)
}

func (c *fakeClock) registrations() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regs
}

// waitRegistered blocks until the loop has asked for at least n timers,
// that is, until it has gone round its loop n times.
func (c *fakeClock) waitRegistered(t *testing.T, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.mu.Lock()
		for c.regs < n {
			c.cond.Wait()
		}
		c.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a guard against a hung loop, not a wait for time
		t.Fatalf("the loop never asked for timer %d (has %d)", n, c.registrations())
	}
}

// harness runs a Daemon with a fake clock and a Renew that reports passes.
// Every step says how many times it wakes the loop, and waits for exactly
// those iterations, so no step races the loop.
type harness struct {
	t      *testing.T
	clock  *fakeClock
	passes chan time.Time
	hup    chan struct{}
	mu     sync.Mutex
	load   func() (*Runtime, error)
}

var start = time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)

// newHarness starts the daemon; extra cores also receive its log.
func newHarness(t *testing.T, schedule string, maxSleep time.Duration, extra ...zapcore.Core) *harness {
	h := &harness{t: t, clock: newFakeClock(start), passes: make(chan time.Time, 100), hup: make(chan struct{})}
	h.load = func() (*Runtime, error) { return h.runtime(schedule, nil), nil }
	d := &Daemon{
		Log:      zap.New(zapcore.NewTee(append(extra, zaptest.NewLogger(t).Core())...)),
		Load:     func() (*Runtime, error) { h.mu.Lock(); defer h.mu.Unlock(); return h.load() },
		Now:      h.clock.Now,
		After:    h.clock.After,
		MaxSleep: maxSleep,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, h.hup) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// The pass at start, then the loop's first iteration and the one
	// woken by the end of that pass.
	h.pass()
	h.clock.waitRegistered(t, 2)
	return h
}

// runtime returns a Runtime whose passes are reported; hook may panic.
func (h *harness) runtime(schedule string, hook func()) *Runtime {
	return &Runtime{Schedule: schedule, Renew: func(context.Context) (string, error) {
		h.passes <- h.clock.Now()
		if hook != nil {
			hook()
		}
		return "ok", nil
	}}
}

func (h *harness) pass() time.Time {
	h.t.Helper()
	select {
	case at := <-h.passes:
		return at
	case <-time.After(10 * time.Second):
		h.t.Fatal("no renewal pass")
		return time.Time{}
	}
}

// advance moves the clocks by d, which fires the pending timer; with
// wantPass the loop starts a pass (one more wake-up when it ends).
func (h *harness) advance(d time.Duration, wantPass bool) time.Time {
	h.t.Helper()
	before := h.clock.registrations()
	h.clock.Advance(d)
	if !wantPass {
		h.clock.waitRegistered(h.t, before+1)
		h.noPass()
		return time.Time{}
	}
	at := h.pass()
	h.clock.waitRegistered(h.t, before+2)
	return at
}

func (h *harness) reload(load func() (*Runtime, error)) {
	h.t.Helper()
	h.mu.Lock()
	h.load = load
	h.mu.Unlock()
	before := h.clock.registrations()
	h.hup <- struct{}{}
	h.clock.waitRegistered(h.t, before+1)
}

// reloadWithPass is a successful reload: it runs a pass at once.
func (h *harness) reloadWithPass(load func() (*Runtime, error)) {
	h.t.Helper()
	h.mu.Lock()
	h.load = load
	h.mu.Unlock()
	before := h.clock.registrations()
	h.hup <- struct{}{}
	h.pass()
	h.clock.waitRegistered(h.t, before+2)
}

func (h *harness) noPass() {
	h.t.Helper()
	select {
	case at := <-h.passes:
		h.t.Fatalf("unexpected pass at %s", at)
	default:
	}
}

func TestPassAtStartAndOnSchedule(t *testing.T) {
	h := newHarness(t, "@every 1h", 24*time.Hour)
	h.clock.Advance(59 * time.Minute) // the timer is for the full hour: nothing wakes
	h.noPass()
	if at := h.advance(time.Minute, true); !at.Equal(start.Add(time.Hour)) {
		t.Fatalf("second pass at %s, want an hour after start", at)
	}
}

// TestSuspendCatchesUpOnce: eight hours asleep give one pass, not eight,
// and the next tick is planned from the wake-up.
func TestSuspendCatchesUpOnce(t *testing.T) {
	h := newHarness(t, "@every 1h", time.Minute)
	h.clock.Jump(8 * time.Hour) // suspended: the monotonic clock stood still
	h.advance(time.Minute, true)
	for range 59 {
		h.advance(time.Minute, false)
	}
	h.advance(time.Minute, true)
}

// TestClockGoesBack: a clock stepped back a day does not silence the
// daemon for a day.
func TestClockGoesBack(t *testing.T) {
	h := newHarness(t, "@every 1h", time.Minute)
	h.clock.Jump(-24 * time.Hour)
	// The first wake-up after the jump notices it and plans an hour from
	// there: a pass 61 minutes after the jump.
	for range 60 {
		h.advance(time.Minute, false)
	}
	h.advance(time.Minute, true)
}

// TestReload: a broken configuration is reported and the old one kept; a
// good one takes effect at once.
func TestReload(t *testing.T) {
	h := newHarness(t, "@every 1h", 24*time.Hour)
	h.reload(func() (*Runtime, error) { return nil, errors.New("renewd.yaml:3: schedule: broken") })
	if at := h.advance(time.Hour, true); !at.Equal(start.Add(time.Hour)) {
		t.Fatalf("pass at %s, want the old hourly schedule", at)
	}
	h.reloadWithPass(func() (*Runtime, error) { return h.runtime("@every 10m", nil), nil })
	if at := h.advance(10*time.Minute, true); !at.Equal(start.Add(time.Hour + 10*time.Minute)) {
		t.Fatalf("pass at %s, want 10 minutes after the reload", at)
	}
}

// TestPanicInPass: a panic is logged and the daemon goes on.
func TestPanicInPass(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	// Registered first, so it runs after the harness has stopped the
	// daemon and every pass has ended.
	t.Cleanup(func() {
		entries := logs.FilterMessage("renewal pass panicked").All()
		if len(entries) != 3 {
			t.Fatalf("%d panic log lines, want 3 (one per pass)", len(entries))
		}
		for _, e := range entries {
			f := e.ContextMap()
			stack := fmt.Sprint(f["stack"])
			if b, ok := f["stack"].([]byte); ok {
				stack = string(b)
			}
			if f["panic"] != "boom" || !strings.Contains(stack, "daemon.(*Daemon).pass") {
				t.Errorf("panic logged without its value or stack: %v", f)
			}
		}
	})
	h := newHarness(t, "@every 1h", 24*time.Hour, core)
	h.reloadWithPass(func() (*Runtime, error) { return h.runtime("@every 1h", func() { panic("boom") }), nil }) // panics
	h.advance(time.Hour, true)                                                                                  // panics again
	h.advance(time.Hour, true)                                                                                  // and the daemon is still there
}

// TestStopWaitsForThePass: a stop lets a running pass end (its context is
// cancelled) and returns nil.
func TestStopWaitsForThePass(t *testing.T) {
	clock := newFakeClock(start)
	entered, finished := make(chan struct{}), make(chan struct{})
	d := &Daemon{Log: zaptest.NewLogger(t), Now: clock.Now, After: clock.After, StopTimeout: 10 * time.Second,
		Load: func() (*Runtime, error) {
			return &Runtime{Schedule: "@every 1h", Renew: func(ctx context.Context) (string, error) {
				close(entered)
				<-ctx.Done()
				close(finished) // rolled back
				return "", ctx.Err()
			}}, nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	<-entered
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the stop")
	}
	select {
	case <-finished:
	default:
		t.Fatal("Run returned before the running pass ended")
	}
}

func TestBadScheduleAtStart(t *testing.T) {
	d := &Daemon{Log: zaptest.NewLogger(t), Load: func() (*Runtime, error) {
		return &Runtime{Schedule: "every hour", Renew: func(context.Context) (string, error) { return "", nil }}, nil
	}}
	if err := d.Run(context.Background(), nil); err == nil {
		t.Fatal("Run accepted a bad schedule")
	}
}

// TestIdleAfterEachPass: Idle runs after a pass has ended (its log line
// written), never during one.
func TestIdleAfterEachPass(t *testing.T) {
	events := make(chan string, 10)
	d := &Daemon{
		Log: zaptest.NewLogger(t),
		Load: func() (*Runtime, error) {
			return &Runtime{Schedule: "@every 1h", Renew: func(context.Context) (string, error) {
				events <- "pass"
				return "ok", nil
			}}, nil
		},
		Idle: func() { events <- "idle" },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	var got []string
	for len(got) < 2 {
		select {
		case e := <-events:
			got = append(got, e)
		case <-time.After(10 * time.Second): // a guard against a hang, not a wait for time
			t.Fatalf("events so far: %v", got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "pass idle" {
		t.Errorf("events %v, want the pass, then Idle", got)
	}
}

// TestReloadDuringPass: a SIGHUP that arrives while a pass runs (a
// certificate was just added to domains.d) is not lost: one more pass runs,
// with the new configuration, as soon as the running one ends.
func TestReloadDuringPass(t *testing.T) {
	clock := newFakeClock(start)
	entered, release := make(chan string, 4), make(chan struct{})
	runtime := func(name string) *Runtime {
		return &Runtime{Schedule: "@every 1h", Renew: func(ctx context.Context) (string, error) {
			entered <- name
			if name == "old" {
				<-release
			}
			return "ok", nil
		}}
	}
	var mu sync.Mutex
	config := "old"
	d := &Daemon{Log: zaptest.NewLogger(t), Now: clock.Now, After: clock.After,
		Load: func() (*Runtime, error) { mu.Lock(); defer mu.Unlock(); return runtime(config), nil }}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, hup) }()
	defer func() { cancel(); <-done }()

	next := func() string {
		t.Helper()
		select {
		case name := <-entered:
			return name
		case <-time.After(10 * time.Second): // a guard against a hang, not a wait for time
			t.Fatal("no renewal pass")
			return ""
		}
	}
	if got := next(); got != "old" {
		t.Fatalf("first pass ran %q", got)
	}
	mu.Lock()
	config = "new"
	mu.Unlock()
	hup <- struct{}{} // taken by the loop while the first pass is still running
	select {
	case name := <-entered:
		t.Fatalf("a second pass (%s) started while the first still ran", name)
	default:
	}
	close(release)
	if got := next(); got != "new" {
		t.Fatalf("the pass after the reload ran %q, want the new configuration", got)
	}
}
