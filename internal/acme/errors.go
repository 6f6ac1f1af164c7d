package acme

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
)

// maxRetryAfter caps what a CA may ask for, so a garbled header cannot park
// a certificate for a year.
const maxRetryAfter = 7 * 24 * time.Hour

// RetryAfter returns the earliest time the CA allows another attempt, when
// err carries a Retry-After (RFC 9110 section 10.2.3: seconds or an HTTP
// date) from a rate-limit answer. A missing or unparsable value gives
// ok=false: the normal backoff applies.
func RetryAfter(err error, now time.Time) (time.Time, bool) {
	var rl *legoacme.RateLimitedError
	if !errors.As(err, &rl) {
		return time.Time{}, false
	}
	return parseRetryAfter(rl.RetryAfter, now)
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
		d := min(time.Duration(min(secs, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
		return now.Add(d), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	if t.After(now.Add(maxRetryAfter)) {
		t = now.Add(maxRetryAfter)
	}
	return t.UTC(), true
}
