package acme

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
)

// MaxRetryAfter caps what a CA may ask for, so a garbled header cannot park
// a certificate for a year: a later Retry-After is honoured up to this
// (docs/policy.md).
const MaxRetryAfter = 7 * 24 * time.Hour

// RetryAfter returns the earliest time the CA allows another attempt, when
// err carries a Retry-After (RFC 9110 section 10.2.3: seconds or an HTTP
// date) from a rate-limit (429) or unavailable (503) answer. A missing or
// unparsable value gives ok=false: the normal backoff applies. The time is
// rounded up to a whole second, so that storing it to the second (as
// the records do) never moves it before what the CA asked for.
func RetryAfter(err error, now time.Time) (time.Time, bool) {
	var at time.Time
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) {
		if t, ok := parseRetryAfter(rl.RetryAfter, now); ok {
			at = t
		}
	}
	var ra *retryAfterError
	if errors.As(err, &ra) {
		if t, ok := parseRetryAfter(ra.retryAfter, now); ok && t.After(at) {
			at = t
		}
	}
	return at, !at.IsZero()
}

func parseRetryAfter(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return time.Time{}, false
		}
		d := min(time.Duration(min(secs, int64(MaxRetryAfter/time.Second)))*time.Second, MaxRetryAfter)
		return ceilSecond(now.Add(d)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	if t.After(now.Add(MaxRetryAfter)) {
		t = ceilSecond(now.Add(MaxRetryAfter))
	}
	return t.UTC(), true
}

// ceilSecond rounds t up to the next whole second, in UTC.
func ceilSecond(t time.Time) time.Time {
	t = t.UTC()
	if tr := t.Truncate(time.Second); !tr.Equal(t) {
		return tr.Add(time.Second)
	}
	return t
}

// retryAfterError is an order that failed after the CA answered 429 or 503
// with a Retry-After. lego keeps that header only on a 429 with a
// rateLimited problem document (legoacme.RateLimitedError); a 503 from a
// CA in maintenance, or a 429 of another kind, would lose it, and renewd
// could come back before the CA asked it to.
type retryAfterError struct {
	err        error
	retryAfter string
}

func (e *retryAfterError) Error() string {
	v := e.retryAfter
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return fmt.Sprintf("%v (Retry-After: %q)", e.err, v)
}

func (e *retryAfterError) Unwrap() error { return e.err }

// retryHint remembers the last Retry-After the CA sent with a 429 or 503
// during one order, for the order's error. It is safe for concurrent use:
// lego fetches authorizations in parallel.
type retryHint struct {
	mu    sync.Mutex
	value string
}

func (h *retryHint) record(v string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.value = v
}

// wrap attaches the recorded Retry-After, if any, to a failed order's err.
func (h *retryHint) wrap(err error) error {
	if err == nil {
		return nil
	}
	h.mu.Lock()
	v := h.value
	h.mu.Unlock()
	if v == "" {
		return err
	}
	return &retryAfterError{err: err, retryAfter: v}
}
