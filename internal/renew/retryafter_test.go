package renew

import (
	"errors"
	"fmt"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
)

// TestWarnLongRetryAfter: a CA's Retry-After beyond what renewd honours
// (acme.MaxRetryAfter) is cut, and the log says so with the cap and the
// time renewd retries instead; a shorter one, or none, logs nothing.
func TestWarnLongRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	rateLimited := func(v string) error {
		return fmt.Errorf("order: %w", &legoacme.RateLimitedError{
			ProblemDetails: &legoacme.ProblemDetails{HTTPStatus: 429, Type: legoacme.RateLimitedErr}, RetryAfter: v})
	}
	for _, tt := range []struct {
		desc string
		err  error
		warn bool
	}{
		{"a year, in seconds", rateLimited("31536000"), true},
		{"a date far in the future", rateLimited("Fri, 01 Jan 2100 00:00:00 GMT"), true},
		{"an hour", rateLimited("3600"), false},
		{"garbled", rateLimited("soon"), false},
		{"no Retry-After at all", errors.New("connection refused"), false},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			core, logs := observer.New(zap.WarnLevel)
			r := &Renewer{Log: zap.New(core)}
			r.warnLongRetryAfter(&config.Certificate{Name: "shop"}, tt.err, now)
			got := logs.FilterMessageSnippet("longer than renewd waits").All()
			if !tt.warn {
				if len(got) != 0 {
					t.Fatalf("warned for %s: %v", tt.desc, got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d warnings; want 1 (all logs: %v)", len(got), logs.All())
			}
			f := got[0].ContextMap()
			if f["certificate"] != "shop" || f["cap"] != acme.MaxRetryAfter {
				t.Errorf("fields %v; want certificate shop and cap %s", f, acme.MaxRetryAfter)
			}
			if at, ok := f["retry_at"].(time.Time); !ok || at.Before(now.Add(acme.MaxRetryAfter)) || at.After(now.Add(acme.MaxRetryAfter+time.Second)) {
				t.Errorf("retry_at %v; want the cap, %s", f["retry_at"], now.Add(acme.MaxRetryAfter))
			}
		})
	}
}
