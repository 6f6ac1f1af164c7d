package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// newTransport is the HTTP transport for the CA's API. caFiles are extra
// roots for the CA's own HTTPS endpoint (Pebble in tests, a private CA in
// production); the system pool is always included.
func newTransport(caFiles []string) (*http.Transport, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range caFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("acme.ca_certificates: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("acme.ca_certificates: %s holds no PEM certificate", f)
		}
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		// Up to the default concurrency: connections reused, not a TLS
		// handshake per request once more than a few orders run at once.
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}, nil
}

// ctxTransport attaches ctx to every request. lego's API takes no context,
// so this is how a renewal's deadline and a daemon's shutdown reach the
// requests lego makes on its behalf.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	return t.base.RoundTrip(req.WithContext(t.ctx))
}

// maxPollInterval caps the Retry-After a CA may put on a successful answer.
// lego polls an authorization at the interval the challenge answer's
// Retry-After asks for (and gives up only after 100 of them), sleeping on a
// context renewd cannot cancel: "Retry-After: 86400" from a broken CA or
// proxy would park the renewal, and the storage lock, for days. RFC 8555
// section 7.5.1 makes the header a hint on how often to poll, not a promise
// to wait; lego itself polls every 5s when there is none.
const maxPollInterval = 10 * time.Second

// defaultPollInterval is the Retry-After renewd gives a challenge answer
// that has none (Let's Encrypt sends none): lego then polls the
// authorization after this long, growing by half each time up to ten
// times it, instead of starting at 5s. Validation usually takes a second or
// two, so a renewal no longer sits out most of a 5s wait; certbot polls
// every second. lego gives up after 100 intervals (here 200s), which a CA
// validating a token never needs.
const defaultPollInterval = 2 * time.Second

// isChallengeAnswer reports whether resp answers a POST to a challenge
// URL: RFC 8555 section 7.5.1 has the server link it "up" to its
// authorization. Order, authorization and account answers have no such
// link, and certificate answers are not JSON.
func isChallengeAnswer(req *http.Request, resp *http.Response) bool {
	if req.Method != http.MethodPost || resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return false
	}
	for _, l := range resp.Header.Values("Link") {
		if strings.Contains(l, `rel="up"`) {
			return true
		}
	}
	return false
}

// hintTransport reads the CA's Retry-After headers: on a 429 or 503 it is
// recorded in hint for the order's error (see retryAfterError); on a
// successful answer it is capped at maxPollInterval. Error answers are
// passed on untouched, so lego's RateLimitedError keeps the CA's value.
type hintTransport struct {
	base http.RoundTripper
	hint *retryHint
	now  func() time.Time
}

func (t hintTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		if isChallengeAnswer(req, resp) {
			resp.Header.Set("Retry-After", strconv.Itoa(int(defaultPollInterval/time.Second)))
		}
		return resp, nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		t.hint.record(v)
	case resp.StatusCode < http.StatusBadRequest:
		now := t.now()
		if at, ok := parseRetryAfter(v, now); ok && at.Sub(now) > maxPollInterval {
			resp.Header.Set("Retry-After", strconv.Itoa(int(maxPollInterval/time.Second)))
		}
	}
	return resp, nil
}
