package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

// Client-side rate limiting (docs/configuration.md, acme.rate_limit). A CA
// limits requests per second and new orders per account, and answers 429
// or 503 with Retry-After when a client goes over; renewd paces itself
// below those limits instead of bounding its number of workers. One
// limiter per CA directory is shared by every concurrent order and ARI
// request of the process, and survives a configuration reload.

// The endpoints a limiter paces on their own, named as in
// acme.rate_limit.endpoints. Every other request is endpointOther: only
// the overall pace applies to it.
const (
	limitDirectory   = "directory"
	limitNewNonce    = "new_nonce"
	limitNewAccount  = "new_account"
	limitNewOrder    = "new_order"
	limitRenewalInfo = "renewal_info"
	limitOther       = ""
)

// maxPauseWait is the longest a request waits for a pause or for the
// order budget. A longer wait fails the request at once with the time it
// may be sent (a retryAfterError), so the renewal is retried then instead
// of holding a worker, and the storage lock, idle.
const maxPauseWait = 2 * time.Minute

// clock is a limiter's time source: the real one, or a fake with Advance
// in tests.
type clock interface {
	Now() time.Time
	// Sleep returns after d, or with ctx's error when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

var _ clock = realClock{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// bucket is a token bucket whose tokens may go negative: a request that
// finds none reserves the next one and learns when it is due, so
// concurrent callers are spaced 1/rate apart instead of racing.
type bucket struct {
	rate, burst float64 // rate 0: no limit
	tokens      float64
	last        time.Time
}

func newBucket(r config.Rate) *bucket {
	return &bucket{rate: float64(r.PerSecond), burst: float64(r.Burst), tokens: float64(r.Burst)}
}

// set changes the bucket's rate and burst, keeping what it has used.
func (b *bucket) set(r config.Rate) {
	b.rate, b.burst = float64(r.PerSecond), float64(r.Burst)
	b.tokens = min(b.tokens, b.burst)
}

// refill adds the tokens earned since the last look.
func (b *bucket) refill(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if now.After(b.last) {
		b.last = now
	}
}

// reserve takes a token at now and returns when the request may go.
func (b *bucket) reserve(now time.Time) time.Time {
	if b.rate <= 0 {
		return now
	}
	b.refill(now)
	b.tokens--
	if b.tokens >= 0 {
		return now
	}
	return now.Add(time.Duration(-b.tokens / b.rate * float64(time.Second)))
}

// ready is when a token will be there, now or later, taking none.
func (b *bucket) ready(now time.Time) time.Time {
	if b.rate <= 0 {
		return now
	}
	b.refill(now)
	if b.tokens >= 1 {
		return now
	}
	return now.Add(time.Duration((1 - b.tokens) / b.rate * float64(time.Second)))
}

// limiter paces the requests to one CA directory. Its methods are safe for
// concurrent use.
type limiter struct {
	clock clock

	mu         sync.Mutex
	cfg        config.RateLimit
	log        *zap.Logger
	all        *bucket
	endpoints  map[string]*bucket
	orders     []time.Time // new orders sent or reserved, oldest first, within the window
	pauseUntil time.Time
	pauseTold  bool    // pauseUntil is what the CA said, not the configured guess
	pauses     int     // pauses started, for tests
	urls       dirURLs // learnt from the directory
	dirURL     string  // the directory's own URL
}

// dirURLs are the directory's entries a limiter needs to tell endpoints
// apart (RFC 8555 section 7.1.1, RFC 9773 section 4).
type dirURLs struct {
	NewNonce    string `json:"newNonce"`
	NewAccount  string `json:"newAccount"`
	NewOrder    string `json:"newOrder"`
	RenewalInfo string `json:"renewalInfo"`
}

func newLimiter(directory string, cfg config.RateLimit, c clock, log *zap.Logger) *limiter {
	l := &limiter{clock: c, dirURL: directory, endpoints: map[string]*bucket{}}
	l.configure(cfg, log)
	return l
}

// configure applies cfg (a reloaded renewd.yaml), keeping the state: what
// the buckets used, the orders sent, a pause in effect.
func (l *limiter) configure(cfg config.RateLimit, log *zap.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg, l.log = cfg, log
	rates := map[string]config.Rate{
		limitDirectory: cfg.Endpoints.Directory, limitNewNonce: cfg.Endpoints.NewNonce,
		limitNewAccount: cfg.Endpoints.NewAccount, limitNewOrder: cfg.Endpoints.NewOrder,
		limitRenewalInfo: cfg.Endpoints.RenewalInfo,
	}
	for name, r := range rates {
		if b := l.endpoints[name]; b != nil {
			b.set(r)
		} else {
			l.endpoints[name] = newBucket(r)
		}
	}
	if l.all == nil {
		l.all = newBucket(cfg.Requests)
	} else {
		l.all.set(cfg.Requests)
	}
}

// ticket is what a request asks of the limiter.
type ticket struct {
	endpoint string
	// order says the request creates a new order that counts against the
	// order budget (not one exempt as an ARI renewal).
	order bool
}

// wait blocks until the request may be sent: after any pause the CA asked
// for, within the overall and the endpoint's pace, and within the order
// budget. When the pause or the order budget would hold it more than
// maxPauseWait, or past ctx's deadline, it returns at once with a
// *retryAfterError saying when. A wait for its turn in the pace is bounded
// by ctx alone: that is the normal course of a busy pass.
func (l *limiter) wait(ctx context.Context, t ticket) error {
	if err := l.waitPause(ctx); err != nil {
		return err
	}
	at, err := l.reserve(t, l.clock.Now(), waitLimit(ctx, l.clock.Now()))
	if err != nil {
		return err
	}
	if d := at.Sub(l.clock.Now()); d > 0 {
		if err := l.clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
	// A pause may have begun while this request waited for its turn.
	return l.waitPause(ctx)
}

// waitLimit is the latest time a request at now may be held: maxPauseWait
// from now, or ctx's deadline when that comes first.
func waitLimit(ctx context.Context, now time.Time) time.Time {
	limit := now.Add(maxPauseWait)
	if d, ok := ctx.Deadline(); ok && d.Before(limit) {
		limit = d
	}
	return limit
}

// waitPause waits out a pause the CA asked for, if it ends in time.
func (l *limiter) waitPause(ctx context.Context) error {
	for {
		now := l.clock.Now()
		l.mu.Lock()
		until := l.pauseUntil
		l.mu.Unlock()
		if !now.Before(until) {
			return nil
		}
		if until.After(waitLimit(ctx, now)) {
			return &retryAfterError{err: fmt.Errorf("%w until %s", errPaused, until.UTC().Format(time.RFC3339)),
				retryAfter: ceilSecond(until).Format(http.TimeFormat)}
		}
		if err := l.clock.Sleep(ctx, until.Sub(now)); err != nil {
			return err
		}
	}
}

// errPaused and errOrderBudget say why a request was not sent.
var (
	errPaused      = errors.New("the CA asked renewd to pause every request to it")
	errOrderBudget = errors.New("the new-order budget for this CA is used up (acme.rate_limit.orders)")
)

// reserve takes the request's tokens at now and returns when it may go.
// An order that would have to wait past limit reserves nothing and fails.
func (l *limiter) reserve(t ticket, now, limit time.Time) (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := now
	if t.order {
		slot := l.orderSlot(now)
		if slot.After(limit) {
			return time.Time{}, &retryAfterError{
				err:        fmt.Errorf("%w: %d new orders in %s; the next one at %s", errOrderBudget, l.cfg.Orders.Max, formatWindow(l.cfg.Orders.Window), slot.UTC().Format(time.RFC3339)),
				retryAfter: ceilSecond(slot).Format(http.TimeFormat),
			}
		}
		l.orders = append(l.orders, slot)
		at = slot
	}
	at = later(at, l.all.reserve(now))
	if b := l.endpoints[t.endpoint]; b != nil {
		at = later(at, b.reserve(now))
	}
	return at, nil
}

// tryReserve takes the tokens of a request that needs no order budget if
// it may go at now (ok), and otherwise takes nothing and says when it may.
func (l *limiter) tryReserve(t ticket, now time.Time) (at time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at = l.all.ready(now)
	if b := l.endpoints[t.endpoint]; b != nil {
		at = later(at, b.ready(now))
	}
	if at.After(now) {
		return at, false
	}
	l.all.reserve(now)
	if b := l.endpoints[t.endpoint]; b != nil {
		b.reserve(now)
	}
	return now, true
}

// orderSlot is the earliest time at or after now when one more new order
// fits the budget: at most Max orders in any Window (Max 0: no budget).
// The caller holds mu.
func (l *limiter) orderSlot(now time.Time) time.Time {
	max, window := l.cfg.Orders.Max, l.cfg.Orders.Window
	if max <= 0 || window <= 0 {
		return now
	}
	// Forget what left the window: the list is sorted, oldest first.
	i := 0
	for i < len(l.orders) && !l.orders[i].After(now.Add(-window)) {
		i++
	}
	l.orders = l.orders[i:]
	if len(l.orders) < max {
		return now
	}
	return later(now, l.orders[len(l.orders)-max].Add(window))
}

// pause makes every request wait until until (no earlier than a pause
// already in effect) and reports whether this started a new pause. told
// says until is the CA's own Retry-After, not the configured pause.
func (l *limiter) pause(until time.Time, told bool, status int, endpoint, retryAfter string) bool {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	started := !now.Before(l.pauseUntil)
	if !until.After(l.pauseUntil) {
		return false
	}
	l.pauseUntil, l.pauseTold = until, told
	if started {
		l.pauses++
		if l.log != nil {
			l.log.Warn("the CA asked to slow down; pausing every request to it", zap.Int("status", status),
				zap.String("endpoint", endpoint), zap.String("retry_after", retryAfter), zap.Time("until", until.UTC()))
		}
	}
	return started
}

// pauseFor is when a pause asked for by an answer with status and
// Retry-After value v, received at now, ends; ok is false when the answer
// asks for none. A 429 always pauses; a 503 only with a Retry-After (a
// plain 503 is the CA failing, which the renewal's own backoff handles).
// A missing or unreadable value means the configured pause, and told is
// false.
func (l *limiter) pauseFor(status int, v string, now time.Time) (until time.Time, told, ok bool) {
	if status != http.StatusTooManyRequests && (status != http.StatusServiceUnavailable || v == "") {
		return time.Time{}, false, false
	}
	if at, ok := parseRetryAfter(v, now); ok {
		return at, true, true
	}
	l.mu.Lock()
	d := l.cfg.Pause
	l.mu.Unlock()
	if d <= 0 {
		d = time.Minute
	}
	return now.Add(d), false, true
}

// resumesWithin reports whether a pause the CA asked for by its
// Retry-After is in effect and ends early enough for a request with ctx to
// wait for it (see waitLimit). A pause renewd chose because the CA's value
// was missing or unreadable promises nothing: a refused order is then left
// to the renewal's own backoff.
func (l *limiter) resumesWithin(ctx context.Context) bool {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.Before(l.pauseUntil) && l.pauseTold && !l.pauseUntil.After(waitLimit(ctx, now))
}

// learn records the directory's entries.
func (l *limiter) learn(u dirURLs) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.urls = u
}

// endpoint names what a request to the CA is, for its pace.
func (l *limiter) endpoint(req *http.Request) string {
	l.mu.Lock()
	u := l.urls
	l.mu.Unlock()
	s := req.URL.String()
	switch {
	case s == l.dirURL:
		return limitDirectory
	case u.NewNonce != "" && s == u.NewNonce:
		return limitNewNonce
	case u.NewAccount != "" && s == u.NewAccount:
		return limitNewAccount
	case u.NewOrder != "" && s == u.NewOrder && req.Method == http.MethodPost:
		return limitNewOrder
	case u.RenewalInfo != "" && strings.HasPrefix(s, u.RenewalInfo):
		return limitRenewalInfo
	}
	return limitOther
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func formatWindow(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// limiters holds the process's limiter per CA directory: every Client for
// a directory (a daemon builds a new one on each reload) shares its pace,
// its order budget and its pauses.
var limiters = struct {
	mu    sync.Mutex
	byDir map[string]*limiter
}{byDir: map[string]*limiter{}}

// limiterFor returns the limiter of directory, configured with cfg.
func limiterFor(directory string, cfg config.RateLimit, log *zap.Logger) *limiter {
	limiters.mu.Lock()
	defer limiters.mu.Unlock()
	if l := limiters.byDir[directory]; l != nil {
		l.configure(cfg, log)
		return l
	}
	l := newLimiter(directory, cfg, realClock{}, log)
	limiters.byDir[directory] = l
	return l
}
