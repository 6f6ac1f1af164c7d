package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

// fakeClock is a clock whose time moves only on Advance. Sleepers are
// woken when Advance passes their time; slept receives a value each time
// a goroutine starts to sleep, so a test can wait until its goroutines
// are blocked rather than for time to pass.
type fakeClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers []fakeSleeper
	slept    chan struct{}
}

type fakeSleeper struct {
	until time.Time
	done  chan struct{}
}

var _ clock = (*fakeClock)(nil)

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, slept: make(chan struct{}, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	c.mu.Lock()
	s := fakeSleeper{until: c.now.Add(d), done: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.mu.Unlock()
	c.slept <- struct{}{}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Advance moves the time on and wakes whoever slept until then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.sleepers[:0]
	for _, s := range c.sleepers {
		if s.until.After(c.now) {
			kept = append(kept, s)
			continue
		}
		close(s.done)
	}
	c.sleepers = kept
}

// waitSleeping waits until n goroutines have started to sleep since the
// last call. It fails the test after 10 s of real time: a guard against a
// hang, not a wait for time to pass.
func (c *fakeClock) waitSleeping(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-c.slept:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d goroutines went to sleep", n)
		}
	}
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestBucketReserve(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		desc string
		rate config.Rate
		at   []time.Duration // when each request asks, from t0
		want []time.Duration // when each may go, from t0
	}{
		{desc: "a burst goes at once, then one every 1/rate",
			rate: config.Rate{PerSecond: 10, Burst: 3},
			at:   []time.Duration{0, 0, 0, 0, 0, 0},
			want: []time.Duration{0, 0, 0, 100 * ms, 200 * ms, 300 * ms}},
		{desc: "quiet time refills the bucket, never above the burst",
			rate: config.Rate{PerSecond: 10, Burst: 2},
			at:   []time.Duration{0, 0, 10 * time.Second, 10 * time.Second, 10 * time.Second},
			want: []time.Duration{0, 0, 10 * time.Second, 10 * time.Second, 10*time.Second + 100*ms}},
		{desc: "requests spaced at the rate never wait",
			rate: config.Rate{PerSecond: 4, Burst: 1},
			at:   []time.Duration{0, 250 * ms, 500 * ms, 750 * ms},
			want: []time.Duration{0, 250 * ms, 500 * ms, 750 * ms}},
		{desc: "no limit",
			rate: config.Rate{},
			at:   []time.Duration{0, 0, 0},
			want: []time.Duration{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			b := newBucket(tt.rate)
			for i, at := range tt.at {
				if got := b.reserve(t0.Add(at)).Sub(t0); got != tt.want[i] {
					t.Errorf("request %d at %s goes at %s, want %s", i, at, got, tt.want[i])
				}
			}
		})
	}
}

// TestLimiterOverallAndEndpoint: a request waits for the later of the
// overall pace and its endpoint's.
func TestLimiterOverallAndEndpoint(t *testing.T) {
	l := newLimiter("https://ca.test/dir", config.RateLimit{
		Requests:  config.Rate{PerSecond: 100, Burst: 100},
		Endpoints: config.EndpointRates{NewNonce: config.Rate{PerSecond: 2, Burst: 1}},
	}, newFakeClock(t0), zap.NewNop())
	limit := t0.Add(time.Hour)
	var got []time.Duration
	for range 3 {
		at, err := l.reserve(ticket{endpoint: limitNewNonce}, t0, limit)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, at.Sub(t0))
	}
	if at, _ := l.reserve(ticket{endpoint: limitOther}, t0, limit); !at.Equal(t0) {
		t.Errorf("another endpoint waits until %s; only the nonces are over their pace", at)
	}
	want := []time.Duration{0, 500 * time.Millisecond, time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("nonce %d goes after %s, want %s", i, got[i], want[i])
		}
	}
}

func TestOrderBudget(t *testing.T) {
	min := time.Minute
	l := newLimiter("https://ca.test/dir", config.RateLimit{Orders: config.OrderBudget{Max: 3, Window: time.Hour}},
		newFakeClock(t0), zap.NewNop())
	order := ticket{endpoint: limitNewOrder, order: true}
	steps := []struct {
		desc    string
		at      time.Duration // now, from t0
		limit   time.Duration // how long it may wait
		want    time.Duration // when it goes, from t0
		refused bool
	}{
		{desc: "first", at: 0, limit: 0, want: 0},
		{desc: "second", at: min, limit: 0, want: min},
		{desc: "third fills the window", at: 2 * min, limit: 0, want: 2 * min},
		{desc: "fourth would wait an hour: refused, nothing reserved", at: 3 * min, limit: 10 * min, refused: true},
		{desc: "fourth may wait: goes when the first leaves the window", at: 3 * min, limit: 2 * time.Hour, want: time.Hour},
		{desc: "fifth, queued behind it", at: 3 * min, limit: 2 * time.Hour, want: time.Hour + min},
		{desc: "later, the window slid: goes at once", at: 3 * time.Hour, limit: 0, want: 3 * time.Hour},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		at, err := l.reserve(order, now, now.Add(s.limit))
		if s.refused {
			var ra *retryAfterError
			if !errors.As(err, &ra) || !errors.Is(err, errOrderBudget) {
				t.Fatalf("%s: err %v, want a retryAfterError for the order budget", s.desc, err)
			}
			if when, ok := RetryAfter(err, now); !ok || !when.Equal(t0.Add(time.Hour)) {
				t.Errorf("%s: RetryAfter = %s, %v; want when the first order leaves the window", s.desc, when, ok)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.desc, err)
		}
		if got := at.Sub(t0); got != s.want {
			t.Errorf("%s: goes after %s, want %s", s.desc, got, s.want)
		}
	}
	// Requests other than new orders never touch the budget.
	if _, err := l.reserve(ticket{endpoint: limitNewOrder}, t0.Add(3*time.Hour), t0.Add(3*time.Hour)); err != nil {
		t.Errorf("an exempt order was refused: %v", err)
	}
}

func TestPauseFor(t *testing.T) {
	l := newLimiter("https://ca.test/dir", config.RateLimit{Pause: 45 * time.Second}, newFakeClock(t0), zap.NewNop())
	tests := []struct {
		desc       string
		status     int
		retryAfter string
		want       time.Duration // from t0; 0: no pause
		told       bool          // the CA's own time, not the configured pause
	}{
		{desc: "429 with seconds", status: 429, retryAfter: "5", want: 5 * time.Second, told: true},
		{desc: "429 with an HTTP date", status: 429, retryAfter: t0.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second, told: true},
		{desc: "429 with garbage: the configured pause", status: 429, retryAfter: "in a while", want: 45 * time.Second},
		{desc: "429 without one: the configured pause", status: 429, want: 45 * time.Second},
		{desc: "429 with a negative number: the configured pause", status: 429, retryAfter: "-3", want: 45 * time.Second},
		{desc: "503 with seconds", status: 503, retryAfter: "120", want: 2 * time.Minute, told: true},
		{desc: "503 with garbage: the configured pause", status: 503, retryAfter: "later", want: 45 * time.Second},
		{desc: "503 without one: the CA is failing, not asking for a pause", status: 503},
		{desc: "500 with one: no pause", status: 500, retryAfter: "5"},
		{desc: "200 with a poll interval: no pause", status: 200, retryAfter: "5"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			until, told, ok := l.pauseFor(tt.status, tt.retryAfter, t0)
			if ok != (tt.want > 0) || ok && !until.Equal(t0.Add(tt.want)) {
				t.Errorf("pauseFor = %s, %v; want %s from t0", until, ok, tt.want)
			}
			if told != tt.told {
				t.Errorf("told = %v, want %v", told, tt.told)
			}
		})
	}
}

// TestPauseHoldsEveryone: once one request met a pause, every request of
// every worker waits until it ends, and goes then, not before; several
// answers asking for about the same pause make one pause.
func TestPauseHoldsEveryone(t *testing.T) {
	clk := newFakeClock(t0)
	l := newLimiter("https://ca.test/dir", config.RateLimit{}, clk, zap.NewNop())
	if !l.pause(t0.Add(5*time.Second), true, 429, "order", "5") {
		t.Fatal("the first 429 did not start a pause")
	}
	if l.pause(t0.Add(4*time.Second), true, 429, "order", "4") || l.pause(t0.Add(5*time.Second), true, 429, "order", "5") {
		t.Error("a 429 asking for no later time started another pause")
	}
	const workers = 8
	var mu sync.Mutex
	var went []time.Time
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			if err := l.wait(context.Background(), ticket{endpoint: limitOther}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			went = append(went, clk.Now())
			mu.Unlock()
		})
	}
	clk.waitSleeping(t, workers)
	clk.Advance(4 * time.Second)
	// A later answer in the storm moves the end of the same pause.
	if l.pause(t0.Add(6*time.Second), true, 429, "order", "2") {
		t.Error("a 429 during the pause counted as a new pause")
	}
	mu.Lock()
	if len(went) != 0 {
		t.Errorf("%d requests went during the pause", len(went))
	}
	mu.Unlock()
	clk.Advance(time.Second) // the first end: they wake and wait on
	clk.waitSleeping(t, workers)
	clk.Advance(time.Second)
	wg.Wait()
	for _, at := range went {
		if at.Before(t0.Add(6 * time.Second)) {
			t.Errorf("a request went at %s, before the pause ended", at)
		}
	}
	if len(went) != workers || l.pauses != 1 {
		t.Errorf("%d of %d requests went; %d pauses, want 1", len(went), workers, l.pauses)
	}
}

// TestPauseTooLongFailsAtOnce: a request does not wait for a pause that
// ends after its deadline or more than maxPauseWait away; its error says
// when it may go.
func TestPauseTooLongFailsAtOnce(t *testing.T) {
	tests := []struct {
		desc     string
		pause    time.Duration
		deadline time.Duration // 0: none
	}{
		{desc: "longer than maxPauseWait", pause: maxPauseWait + time.Second},
		{desc: "after the deadline", pause: 30 * time.Second, deadline: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			clk := newFakeClock(t0)
			l := newLimiter("https://ca.test/dir", config.RateLimit{}, clk, zap.NewNop())
			l.pause(t0.Add(tt.pause), true, 429, "order", "")
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, t0.Add(tt.deadline))
				defer cancel()
			}
			err := l.wait(ctx, ticket{})
			if !errors.Is(err, errPaused) {
				t.Fatalf("wait = %v, want errPaused at once", err)
			}
			if at, ok := RetryAfter(err, t0); !ok || !at.Equal(t0.Add(tt.pause)) {
				t.Errorf("RetryAfter = %s, %v; want the end of the pause", at, ok)
			}
			if l.resumesWithin(ctx) {
				t.Error("resumesWithin = true for a pause this request cannot wait for")
			}
		})
	}
}

func TestRefusedWithPause(t *testing.T) {
	rateLimited := &legoacme.RateLimitedError{ProblemDetails: &legoacme.ProblemDetails{HTTPStatus: 429,
		Type: "urn:ietf:params:acme:error:rateLimited"}, RetryAfter: "5"}
	tests := []struct {
		desc string
		err  error
		want bool
	}{
		{"rate limited", rateLimited, true},
		{"429 of another type", &legoacme.ProblemDetails{HTTPStatus: 429, Type: "urn:ietf:params:acme:error:serverInternal"}, true},
		{"503 problem", &legoacme.ProblemDetails{HTTPStatus: 503}, true},
		{"400 problem", &legoacme.ProblemDetails{HTTPStatus: 400}, false},
		{"a later step's error, wrapped", fmt.Errorf("error: one or more domains had a problem: %w", rateLimited), false},
		{"not the CA's answer", errors.New("dial tcp: connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := refusedWithPause(tt.err); got != tt.want {
				t.Errorf("refusedWithPause(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestResumesWithin: a refused order is placed again after a pause only
// when the CA said when, and that is soon enough.
func TestResumesWithin(t *testing.T) {
	tests := []struct {
		desc  string
		pause time.Duration // 0: none
		told  bool
		want  bool
	}{
		{desc: "no pause", want: false},
		{desc: "the CA's Retry-After, 5 s", pause: 5 * time.Second, told: true, want: true},
		{desc: "the configured pause for an unreadable Retry-After", pause: 5 * time.Second, told: false, want: false},
		{desc: "the CA's Retry-After, too far", pause: maxPauseWait + time.Second, told: true, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			l := newLimiter("https://ca.test/dir", config.RateLimit{}, newFakeClock(t0), zap.NewNop())
			if tt.pause > 0 {
				l.pause(t0.Add(tt.pause), tt.told, 429, "order", "")
			}
			if got := l.resumesWithin(context.Background()); got != tt.want {
				t.Errorf("resumesWithin = %v, want %v", got, tt.want)
			}
		})
	}
}
