package acme

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/certificate"
	"go.uber.org/zap/zaptest"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/testpki"
)

// fakeARICA is a CA directory over HTTPS with a renewalInfo endpoint that
// answers what the test says. It records the renewalInfo paths asked for.
type fakeARICA struct {
	srv    *httptest.Server
	client *Client

	mu     sync.Mutex
	answer http.HandlerFunc // nil: the directory has no renewalInfo
	asked  []string
}

func newFakeARICA(t *testing.T, answer http.HandlerFunc) *fakeARICA {
	t.Helper()
	f := &fakeARICA{answer: answer}
	mux := http.NewServeMux()
	mux.HandleFunc("/dir", func(w http.ResponseWriter, _ *http.Request) {
		base := f.srv.URL
		dir := map[string]string{"newNonce": base + "/nonce", "newAccount": base + "/account", "newOrder": base + "/order"}
		f.mu.Lock()
		if f.answer != nil {
			dir["renewalInfo"] = base + "/ari"
		}
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(dir)
	})
	mux.HandleFunc("/ari/", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.asked = append(f.asked, strings.TrimPrefix(r.URL.Path, "/ari/"))
		answer := f.answer
		f.mu.Unlock()
		answer(w, r)
	})
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(config.ACME{Directory: f.srv.URL + "/dir", CACertificates: []string{caFile}}, t.TempDir(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	return f
}

func (f *fakeARICA) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// testLeaf is a self-signed certificate for domains, valid from notBefore
// to notAfter, with an authority key ID, as CertIDs need.
func testLeaf(t *testing.T, notBefore, notAfter time.Time, domains ...string) *x509.Certificate {
	t.Helper()
	return testpki.New(t, notBefore).Root(testpki.CN(domains[0]), testpki.Names(domains...), testpki.Serial(0x87654321),
		testpki.Validity(notBefore, notAfter), testpki.AuthorityKeyID([]byte{1, 2, 3, 4, 5, 6, 7, 8})).Cert
}

func ariJSON(start, end, explanation string) string {
	data, _ := json.Marshal(map[string]any{"suggestedWindow": map[string]string{"start": start, "end": end}, "explanationURL": explanation})
	return string(data)
}

func TestRenewalInfo(t *testing.T) {
	const start, end = "2027-01-19T16:00:00.123Z", "2027-01-21T16:00:00Z"
	inTwoHours := time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		desc           string
		status         int
		retryAfter     string
		body           string
		wantErr        string // substring; "" for success
		wantRetryAfter time.Duration
		wantValid      bool
	}{
		{desc: "window, explanation and Retry-After in seconds", retryAfter: "21600", body: ariJSON(start, end, "https://ca.example/why"),
			wantRetryAfter: 6 * time.Hour, wantValid: true},
		{desc: "Retry-After as an HTTP date", retryAfter: inTwoHours, body: ariJSON(start, end, ""),
			wantRetryAfter: 2 * time.Hour, wantValid: true},
		// lego alone fails the whole answer on these; RFC 9773 section
		// 4.3.3 treats them as absent.
		{desc: "garbage Retry-After keeps the window", retryAfter: "soon", body: ariJSON(start, end, ""), wantValid: true},
		{desc: "negative Retry-After keeps the window", retryAfter: "-5", body: ariJSON(start, end, ""), wantValid: true},
		{desc: "Retry-After in the past keeps the window", retryAfter: "Mon, 02 Jan 2006 15:04:05 GMT", body: ariJSON(start, end, ""), wantValid: true},
		{desc: "no Retry-After", body: ariJSON(start, end, ""), wantValid: true},
		{desc: "an explanation that is not an http(s) URL is dropped", body: ariJSON(start, end, "javascript:alert(1)"), wantValid: true},
		{desc: "an explanation with a control character is dropped", body: ariJSON(start, end, "https://ca.example/\u001b[2J"), wantValid: true},
		{desc: "malformed window is returned for the caller to judge", body: ariJSON(end, start, ""), wantValid: false},
		{desc: "404 problem document (a certificate the CA does not know)", status: 404,
			body:    `{"type":"urn:ietf:params:acme:error:malformed","detail":"no such certificate","status":404}`,
			wantErr: "HTTP 404: it does not know this certificate"},
		{desc: "500 that is not JSON", status: 500, body: "<html>oops</html>", wantErr: "HTTP 500"},
		{desc: "not JSON", body: "<html>hello</html>", wantErr: "renewal info"},
		{desc: "huge answer is cut off", body: `{"explanationURL": "` + strings.Repeat("a", 2<<20) + `"}`, wantErr: "renewal info"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			f := newFakeARICA(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				_, _ = w.Write([]byte(tt.body))
			})
			leaf := testLeaf(t, time.Now().Add(-time.Hour), time.Now().Add(89*24*time.Hour), "shop.example.com")
			info, err := f.client.RenewalInfo(context.Background(), leaf)
			if id, _ := certificate.MakeARICertID(leaf); len(f.requests()) != 1 || f.requests()[0] != id {
				t.Errorf("asked for %v, want once for the CertID %s", f.requests(), id)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q (info %+v)", err, tt.wantErr, info)
				}
				return
			}
			if err != nil {
				t.Fatalf("RenewalInfo: %v", err)
			}
			if d := info.RetryAfter - tt.wantRetryAfter; d < -5*time.Second || d > 5*time.Second {
				t.Errorf("RetryAfter = %s, want about %s", info.RetryAfter, tt.wantRetryAfter)
			}
			if info.Valid() != tt.wantValid {
				t.Errorf("Valid() = %v, want %v (%+v)", info.Valid(), tt.wantValid, info)
			}
			if tt.wantValid {
				if !info.WindowStart.Equal(time.Date(2027, 1, 19, 16, 0, 0, 123e6, time.UTC)) || !info.WindowEnd.Equal(time.Date(2027, 1, 21, 16, 0, 0, 0, time.UTC)) {
					t.Errorf("window %s–%s", info.WindowStart, info.WindowEnd)
				}
			}
			wantURL := ""
			if strings.Contains(tt.body, "https://ca.example/why") {
				wantURL = "https://ca.example/why"
			}
			if info.ExplanationURL != wantURL {
				t.Errorf("ExplanationURL = %q, want %q", info.ExplanationURL, wantURL)
			}
		})
	}
}

func TestRenewalInfoNoARI(t *testing.T) {
	f := newFakeARICA(t, nil)
	leaf := testLeaf(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), "shop.example.com")
	if _, err := f.client.RenewalInfo(context.Background(), leaf); !errors.Is(err, ErrNoARI) {
		t.Errorf("err %v, want ErrNoARI", err)
	}
}

// A CA that does not answer holds RenewalInfo no longer than its context.
func TestRenewalInfoCancelled(t *testing.T) {
	entered := make(chan struct{})
	f := newFakeARICA(t, func(_ http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	leaf := testLeaf(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), "shop.example.com")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := f.client.RenewalInfo(ctx, leaf)
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func TestReplaces(t *testing.T) {
	now := time.Now()
	cert := &config.Certificate{Name: "shop", Domains: []string{"shop.example.com", "www.shop.example.com"}}
	valid := func(t *testing.T) *x509.Certificate {
		return testLeaf(t, now.Add(-60*24*time.Hour), now.Add(30*24*time.Hour), "WWW.shop.example.com")
	}
	window := func(start, end time.Time) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(ariJSON(start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), "")))
		}
	}
	known := window(now.Add(10*24*time.Hour), now.Add(12*24*time.Hour))
	unknown := func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"type":"urn:ietf:params:acme:error:malformed","status":404}`))
	}
	tests := []struct {
		desc      string
		answer    http.HandlerFunc
		previous  func(t *testing.T) *x509.Certificate
		want      bool // the CertID
		inWindow  bool
		wantAsked int
	}{
		{desc: "a certificate the CA knows", answer: known, previous: valid, want: true, wantAsked: 1},
		{desc: "inside the CA's window: exempt from the order budget", answer: window(now.Add(-time.Hour), now.Add(time.Hour)),
			previous: valid, want: true, inWindow: true, wantAsked: 1},
		{desc: "after the CA's window: counted", answer: window(now.Add(-3*time.Hour), now.Add(-time.Hour)),
			previous: valid, want: true, wantAsked: 1},
		{desc: "first issuance", answer: known, previous: func(*testing.T) *x509.Certificate { return nil }},
		{desc: "expired", answer: known, previous: func(t *testing.T) *x509.Certificate {
			return testLeaf(t, now.Add(-91*24*time.Hour), now.Add(-time.Hour), "shop.example.com")
		}},
		{desc: "no name in common (Let's Encrypt refuses)", answer: known, previous: func(t *testing.T) *x509.Certificate {
			return testLeaf(t, now.Add(-time.Hour), now.Add(time.Hour), "other.example.com")
		}},
		{desc: "a certificate the CA does not know (another CA, Pebble restarted)", answer: unknown, previous: valid, wantAsked: 1},
		{desc: "a CA without ARI", answer: nil, previous: valid},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			f := newFakeARICA(t, tt.answer)
			prev := tt.previous(t)
			got, inWindow := f.client.replaces(context.Background(), cert, prev)
			want := ""
			if tt.want {
				want, _ = certificate.MakeARICertID(prev)
			}
			if got != want || inWindow != tt.inWindow {
				t.Errorf("replaces = %q, %v; want %q, %v", got, inWindow, want, tt.inWindow)
			}
			if n := len(f.requests()); n != tt.wantAsked {
				t.Errorf("asked the CA %d times, want %d", n, tt.wantAsked)
			}
		})
	}
}

func TestObtainReplacing(t *testing.T) {
	problem := func(status int, typ string) *legoacme.ProblemDetails {
		return &legoacme.ProblemDetails{Type: "urn:ietf:params:acme:error:" + typ, HTTPStatus: status, Method: http.MethodPost, URL: "https://ca.example/new-order"}
	}
	alreadyReplaced := &legoacme.AlreadyReplacedError{ProblemDetails: problem(409, "alreadyReplaced")}
	ok := &certificate.Resource{Domain: "shop.example.com"}
	tests := []struct {
		desc     string
		replaces string
		first    error // the first order's error
		want     []string
		wantErr  error
	}{
		{desc: "accepted", replaces: "aki.serial", want: []string{"aki.serial"}},
		{desc: "alreadyReplaced: once more without", replaces: "aki.serial", first: alreadyReplaced, want: []string{"aki.serial", ""}},
		{desc: "another account's certificate (403): once more without", replaces: "aki.serial",
			first: problem(403, "unauthorized"), want: []string{"aki.serial", ""}},
		{desc: "Let's Encrypt after a CA change (404 malformed): once more without", replaces: "aki.serial",
			first: problem(404, "malformed"), want: []string{"aki.serial", ""}},
		{desc: "rate limited: not again", replaces: "aki.serial",
			first: &legoacme.RateLimitedError{ProblemDetails: problem(429, "rateLimited"), RetryAfter: "60"}, want: []string{"aki.serial"}},
		{desc: "bad nonce: not again", replaces: "aki.serial",
			first: &legoacme.NonceError{ProblemDetails: problem(400, "badNonce")}, want: []string{"aki.serial"}},
		{desc: "CA unavailable: not again (a failing CA gets one order)", replaces: "aki.serial",
			first: problem(503, "serverInternal"), want: []string{"aki.serial"}},
		{desc: "500 on the order that replaces (Pebble's serial lookup): once more without", replaces: "aki.serial",
			first: problem(500, "serverInternal"), want: []string{"aki.serial", ""}},
		{desc: "500 without replaces: not again", first: problem(500, "serverInternal"), want: []string{""}},
		{desc: "a later step failed (wrapped by lego): the challenge is not spent twice", replaces: "aki.serial",
			first: fmt.Errorf("error: one or more domains had a problem:\n%w", problem(403, "unauthorized")), want: []string{"aki.serial"}},
		{desc: "no replaces: nothing to drop", first: alreadyReplaced, want: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var got []string
			obtain := func(req certificate.ObtainRequest) (*certificate.Resource, error) {
				got = append(got, req.ReplacesCertID)
				if len(got) == 1 && tt.first != nil {
					return nil, tt.first
				}
				return ok, nil
			}
			res, err := obtainReplacing(obtain, certificate.ObtainRequest{Domains: []string{"shop.example.com"}, ReplacesCertID: tt.replaces}, zaptest.NewLogger(t))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("orders with replaces %q, want %q", got, tt.want)
			}
			retried := len(tt.want) == 2
			switch {
			case tt.first == nil || retried:
				if err != nil || res != ok {
					t.Errorf("res %v, err %v; want the certificate", res, err)
				}
			case err != tt.first: // the very error, unwrapped
				t.Errorf("err %v, want the order's own error", err)
			}
		})
	}
}
