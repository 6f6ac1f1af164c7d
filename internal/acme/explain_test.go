package acme

import (
	"errors"
	"fmt"
	"github.com/renewd/renewd/internal/secret"
	"strings"
	"testing"

	legoacme "github.com/go-acme/lego/v4/acme"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/golden"
)

// legoDomains has the shape of lego's resolver error for failed
// challenges (a map of domain to error, with Unwrap() []error).
type legoDomains map[string]error

func (e legoDomains) Error() string {
	var b strings.Builder
	b.WriteString("error: one or more domains had a problem:\n")
	for d, err := range e {
		fmt.Fprintf(&b, "[%s] %v\n", d, err)
	}
	return b.String()
}

func (e legoDomains) Unwrap() []error {
	var out []error
	for _, err := range e {
		out = append(out, err)
	}
	return out
}

func problem(typ string, status int, detail string) *legoacme.ProblemDetails {
	return &legoacme.ProblemDetails{Type: problemPrefix + typ, HTTPStatus: status, Detail: detail}
}

// authzFailed is lego's error for a challenge the CA marked invalid.
func authzFailed(pd *legoacme.ProblemDetails) error {
	return fmt.Errorf("invalid authorization: %w", pd)
}

func webrootCert(challenge string, domains ...string) *config.Certificate {
	c := &config.Certificate{Name: "shop", Domains: domains}
	c.Challenge.Type = challenge
	switch challenge {
	case "http-01":
		c.Challenge.HTTP01.Webroot = "/var/www/acme"
	case "dns-01":
		c.Challenge.DNS01.Provider = "alidns"
	}
	return c
}

func listenCert(domains ...string) *config.Certificate {
	c := &config.Certificate{Name: "shop", Domains: domains}
	c.Challenge.Type = "http-01"
	c.Challenge.HTTP01.Listen = "127.0.0.1:8402"
	return c
}

// TestSummaryGolden: every failure a person meets in the first hour reads
// as its cause on one line, with a hint; testdata/summary.golden holds the
// lines (go test -update rewrites it).
func TestSummaryGolden(t *testing.T) {
	const token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
	tests := []struct {
		desc string
		cert *config.Certificate
		err  error
	}{
		{desc: "http-01 webroot, the token URL answers 404 (Pebble)", cert: webrootCert("http-01", "shop.example.com"),
			err: fmt.Errorf("order: %w", legoDomains{"shop.example.com": authzFailed(problem("unauthorized", 403,
				"Non-200 status code from HTTP: http://shop.example.com/.well-known/acme-challenge/"+token+" returned 404"))})},
		{desc: "http-01 listen behind proxy_pass, 404 (Let's Encrypt)", cert: listenCert("shop.example.com"),
			err: fmt.Errorf("order: %w", legoDomains{"shop.example.com": authzFailed(problem("unauthorized", 403,
				"203.0.113.7: Invalid response from http://shop.example.com/.well-known/acme-challenge/"+token+": 404"))})},
		{desc: "dns-01 wrong TXT record", cert: webrootCert("dns-01", "*.shop.example.com"),
			err: fmt.Errorf("order: %w", legoDomains{"*.shop.example.com": authzFailed(problem("unauthorized", 403,
				`Incorrect TXT record "abc" found at _acme-challenge.shop.example.com`))})},
		{desc: "dns: the name does not resolve", cert: webrootCert("http-01", "shop.example.com"),
			err: fmt.Errorf("order: %w", legoDomains{"shop.example.com": authzFailed(problem("dns", 400,
				"DNS problem: NXDOMAIN looking up A for shop.example.com"))})},
		{desc: "connection refused (step-ca's text)", cert: webrootCert("http-01", "shop.example.com"),
			err: fmt.Errorf("order: %w", legoDomains{"shop.example.com": authzFailed(problem("connection", 400,
				"The server could not connect to validation target"))})},
		{desc: "rate limited on a new order, with a Retry-After", cert: webrootCert("http-01", "shop.example.com"),
			err: &retryAfterError{err: fmt.Errorf("order: %w", &legoacme.RateLimitedError{ProblemDetails: problem("rateLimited", 429,
				"too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s")}), retryAfter: "3600"}},
		{desc: "the CA in maintenance (503)", cert: webrootCert("http-01", "shop.example.com"),
			err: fmt.Errorf("order: %w", problem("serverInternal", 503, "the service is down for maintenance"))},
		{desc: "bad nonces until lego gave up", cert: webrootCert("http-01", "shop.example.com"),
			err: fmt.Errorf("order: %w", &legoacme.NonceError{ProblemDetails: problem("badNonce", 400, "JWS has an invalid anti-replay nonce")})},
		{desc: "CAA forbids the CA", cert: webrootCert("http-01", "shop.example.com"),
			err: fmt.Errorf("order: %w", legoDomains{"shop.example.com": authzFailed(problem("caa", 403,
				"CAA record for shop.example.com prevents issuance"))})},
		{desc: "rejected identifier", cert: webrootCert("http-01", "shop.exmaple.con"),
			err: fmt.Errorf("order: %w", problem("rejectedIdentifier", 400,
				`Error creating new order :: Cannot issue for "shop.exmaple.con": Domain name does not end with a valid public suffix (TLD)`))},
		{desc: "the CA forgot the account, and registering again failed", cert: webrootCert("http-01", "shop.example.com"),
			err: fmt.Errorf("order: %w", problem("accountDoesNotExist", 400, "unable to find existing account for only-return-existing request"))},
		{desc: "example.com contact refused", cert: webrootCert("http-01", "shop.example.com"),
			err: fmt.Errorf("register account: %w", problem("invalidContact", 400, `Error validating contact(s) :: contact email has forbidden domain "example.com"`))},
		{desc: "two domains, one cause", cert: webrootCert("http-01", "shop.example.com", "www.shop.example.com"),
			err: fmt.Errorf("order: %w", legoDomains{
				"www.shop.example.com": authzFailed(problem("connection", 400, "could not connect to validation target")),
				"shop.example.com":     authzFailed(problem("connection", 400, "could not connect to validation target")),
			})},
		{desc: "two domains, two causes", cert: webrootCert("http-01", "shop.example.com", "www.shop.example.com"),
			err: fmt.Errorf("order: %w", legoDomains{
				"www.shop.example.com": authzFailed(problem("dns", 400, "DNS problem: NXDOMAIN looking up A for www.shop.example.com")),
				"shop.example.com": authzFailed(problem("unauthorized", 403,
					"Non-200 status code from HTTP: http://shop.example.com/.well-known/acme-challenge/"+token+" returned 404")),
			})},
		{desc: "a DNS provider failed to set the record", cert: webrootCert("dns-01", "shop.example.com"),
			err: fmt.Errorf("order: %w", legoDomains{"shop.example.com": errors.New("[shop.example.com] acme: error presenting token: alidns: API call failed:\nInvalidAccessKeyId.NotFound")})},
		{desc: "finalize failed for every domain (lego's joined form)", cert: webrootCert("http-01", "shop.example.com", "www.shop.example.com"),
			err: fmt.Errorf("order: %w", fmt.Errorf("error: one or more domains had a problem:\n%w", errors.Join(
				fmt.Errorf("shop.example.com: %w", problem("badCSR", 400, "CSR contains a weak key")),
				fmt.Errorf("www.shop.example.com: %w", problem("badCSR", 400, "CSR contains a weak key")))))},
		{desc: "the CA is down (not an ACME problem)", cert: webrootCert("http-01", "shop.example.com"),
			err: errors.New("reach CA https://127.0.0.1:14000/dir: get directory at 'https://127.0.0.1:14000/dir': Get \"https://127.0.0.1:14000/dir\": dial tcp 127.0.0.1:14000: connect: connection refused")},
	}
	var b strings.Builder
	for _, tt := range tests {
		got := Summary(explain(tt.err, tt.cert, func(s string) string { return s }))
		if strings.Contains(got, "\n") {
			t.Errorf("%s: summary has a line break: %q", tt.desc, got)
		}
		if strings.Contains(got, "one or more domains had a problem") {
			t.Errorf("%s: summary keeps lego's empty first line: %q", tt.desc, got)
		}
		fmt.Fprintf(&b, "# %s\n%s\n\n", tt.desc, got)
	}
	golden.Compare(t, "summary", b.String())
}

// TestSummaryKeepsContext: an order's error wrapped by the caller keeps the
// caller's words, with the order's part summarized; the detail is whole.
func TestSummaryKeepsContext(t *testing.T) {
	order := explain(fmt.Errorf("order: %w", legoDomains{"shop.example.com": authzFailed(problem("dns", 400, "NXDOMAIN"))}),
		webrootCert("http-01", "shop.example.com"), func(s string) string { return s })
	wrapped := fmt.Errorf("%w; and recording it failed: %w", order, errors.New("disk full"))
	want := "http-01 for shop.example.com: dns: NXDOMAIN (" + problemHints["dns"] + "); and recording it failed: disk full"
	if got := Summary(wrapped); got != want {
		t.Errorf("Summary\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(wrapped.Error(), "one or more domains had a problem") {
		t.Errorf("the whole text lost lego's report: %q", wrapped.Error())
	}
	var pd *legoacme.ProblemDetails
	if !errors.As(wrapped, &pd) || pd.Type != problemPrefix+"dns" {
		t.Errorf("errors.As does not find the problem through the summary: %v", pd)
	}
	if Summary(nil) != "" {
		t.Error("Summary(nil) is not empty")
	}
}

// TestSummaryMasked: the summary goes through the same mask as the error.
func TestSummaryMasked(t *testing.T) {
	err := explain(errors.New("alidns: token s3cr3t-value refused"), webrootCert("dns-01", "shop.example.com"),
		func(s string) string { return strings.ReplaceAll(s, "s3cr3t-value", secret.Placeholder) })
	if got := Summary(err); strings.Contains(got, "s3cr3t") || !strings.Contains(got, secret.Placeholder) {
		t.Errorf("summary not masked: %q", got)
	}
}
