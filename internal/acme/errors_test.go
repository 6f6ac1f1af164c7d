package acme

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 16, 0, 0, 400_000_000, time.UTC)
	whole := now.Truncate(time.Second)
	rateLimited := func(v string) error {
		return &legoacme.RateLimitedError{ProblemDetails: &legoacme.ProblemDetails{HTTPStatus: 429, Type: legoacme.RateLimitedErr}, RetryAfter: v}
	}
	unavailable := &legoacme.ProblemDetails{HTTPStatus: 503, Type: "urn:ietf:params:acme:error:serverInternal"}
	tests := []struct {
		desc   string
		err    error
		want   time.Time
		wantOK bool
	}{
		{desc: "rate limit, seconds, rounded up to a whole second", err: rateLimited("120"),
			want: whole.Add(121 * time.Second), wantOK: true},
		{desc: "rate limit wrapped, HTTP date", err: fmt.Errorf("order: %w", rateLimited("Sat, 21 Nov 2026 19:00:00 GMT")),
			want: time.Date(2026, 11, 21, 19, 0, 0, 0, time.UTC), wantOK: true},
		{desc: "503 with Retry-After recorded by the transport", err: fmt.Errorf("order: %w", &retryAfterError{err: unavailable, retryAfter: "3600"}),
			want: whole.Add(3601 * time.Second), wantOK: true},
		{desc: "both: the later one", err: &retryAfterError{err: rateLimited("60"), retryAfter: "600"},
			want: whole.Add(601 * time.Second), wantOK: true},
		{desc: "both, recorded one garbage", err: &retryAfterError{err: rateLimited("60"), retryAfter: "soon"},
			want: whole.Add(61 * time.Second), wantOK: true},
		{desc: "capped at a week", err: rateLimited("999999999999"), want: whole.Add(MaxRetryAfter + time.Second), wantOK: true},
		{desc: "date past the cap", err: rateLimited("Fri, 01 Jan 2100 00:00:00 GMT"), want: whole.Add(MaxRetryAfter + time.Second), wantOK: true},
		{desc: "garbage", err: rateLimited("soon, maybe")},
		{desc: "negative", err: &retryAfterError{err: unavailable, retryAfter: "-1"}},
		{desc: "empty", err: rateLimited("")},
		{desc: "no Retry-After at all", err: unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, ok := RetryAfter(tt.err, now)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Fatalf("RetryAfter = %s, %v; want %s, %v", got, ok, tt.want, tt.wantOK)
			}
			if ok && (got.Location() != time.UTC || !got.Equal(got.Truncate(time.Second))) {
				t.Errorf("RetryAfter = %s: want whole seconds in UTC", got)
			}
		})
	}
}

func TestRetryAfterError(t *testing.T) {
	inner := &legoacme.RateLimitedError{ProblemDetails: &legoacme.ProblemDetails{HTTPStatus: 429, Detail: "too many orders"}, RetryAfter: "60"}
	err := error(&retryAfterError{err: inner, retryAfter: "60"})
	if msg := err.Error(); !strings.Contains(msg, "too many orders") || !strings.Contains(msg, `Retry-After: "60"`) {
		t.Errorf("message %q lacks the CA's error or its Retry-After", msg)
	}
	var rl *legoacme.RateLimitedError
	if !errors.As(err, &rl) || rl != inner {
		t.Error("the lego error is not reachable through the wrapper")
	}
	long := &retryAfterError{err: inner, retryAfter: strings.Repeat("x", 500)}
	if n := len(long.Error()); n > 200 {
		t.Errorf("a 500-byte Retry-After made a %d-byte message", n)
	}

	var h retryHint
	if h.wrap(nil) != nil {
		t.Error("wrap(nil) is not nil")
	}
	if got := h.wrap(inner); got != error(inner) {
		t.Errorf("wrap without a recorded Retry-After changed the error: %v", got)
	}
}

func TestHintTransport(t *testing.T) {
	now := time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, retryAfter, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		if strings.HasPrefix(status, "chall") {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Add("Link", `<https://ca.example/authz/1>;rel="up"`)
			status = strings.TrimPrefix(status, "chall")
		}
		switch status {
		case "429":
			w.WriteHeader(http.StatusTooManyRequests)
		case "503":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "400":
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	inAnHour := now.Add(time.Hour).Format(http.TimeFormat)
	tests := []struct {
		desc       string
		path       string
		method     string // default GET
		wantHeader string // Retry-After as lego sees it
		wantHint   string // recorded for the order's error
	}{
		{desc: "429 recorded, untouched", path: "/429/120", wantHeader: "120", wantHint: "120"},
		{desc: "503 recorded, untouched", path: "/503/" + inAnHour, wantHeader: inAnHour, wantHint: inAnHour},
		{desc: "503 garbage recorded as sent", path: "/503/soon", wantHeader: "soon", wantHint: "soon"},
		{desc: "other errors untouched", path: "/400/60", wantHeader: "60"},
		{desc: "a day-long poll interval capped", path: "/200/86400", wantHeader: "10"},
		{desc: "a poll interval as a date capped", path: "/200/" + inAnHour, wantHeader: "10"},
		{desc: "a short poll interval kept", path: "/200/3", wantHeader: "3"},
		{desc: "the cap itself kept", path: "/200/10", wantHeader: "10"},
		{desc: "garbage on success left to lego", path: "/200/soon", wantHeader: "soon"},
		{desc: "a challenge answer without one gets the default poll interval", path: "/chall200/", method: http.MethodPost, wantHeader: "2"},
		{desc: "a challenge answer's own interval kept", path: "/chall200/1", method: http.MethodPost, wantHeader: "1"},
		{desc: "a GET (ARI) without one left alone", path: "/chall200/", wantHeader: ""},
		{desc: "an answer that is no challenge left alone", path: "/200/", method: http.MethodPost, wantHeader: ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			hint := &retryHint{}
			client := &http.Client{Transport: hintTransport{base: srv.Client().Transport, hint: hint, now: func() time.Time { return now }}}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Retry-After"); got != tt.wantHeader {
				t.Errorf("Retry-After seen by lego = %q, want %q", got, tt.wantHeader)
			}
			if hint.value != tt.wantHint {
				t.Errorf("recorded %q, want %q", hint.value, tt.wantHint)
			}
		})
	}
}

// TestDirectoryUnavailableKeepsRetryAfter goes through the real wiring: a
// CA in maintenance answers the directory with 503 and a Retry-After, which
// lego turns into a plain problem document.
func TestDirectoryUnavailableKeepsRetryAfter(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "600")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"type":"urn:ietf:params:acme:error:serverInternal","detail":"down for maintenance","status":503}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(config.ACME{Directory: srv.URL + "/dir", CACertificates: []string{caFile}}, filepath.Join(dir, "accounts"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	hint := &retryHint{}
	_, err = c.account(context.Background(), hint)
	if err == nil {
		t.Fatal("registration succeeded against a CA answering 503")
	}
	err = hint.wrap(err)
	start := time.Now()
	at, ok := RetryAfter(err, start)
	if !ok || at.Before(start.Add(600*time.Second)) {
		t.Errorf("RetryAfter(%v) = %s, %v; want 600s from now", err, at, ok)
	}
	if !strings.Contains(err.Error(), "down for maintenance") || !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q does not say what the CA said", err)
	}
}
