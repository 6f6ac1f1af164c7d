package acme

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

// fakeLimitCA is a CA directory whose answers a test scripts per path, and
// which records every request it gets.
type fakeLimitCA struct {
	srv *httptest.Server

	mu     sync.Mutex
	seen   []string                  // "METHOD /path"
	script map[string][]fakeResponse // per "METHOD /path": answers in turn, the last one repeated
}

type fakeResponse struct {
	status     int
	retryAfter string
}

func newFakeLimitCA(t *testing.T) *fakeLimitCA {
	t.Helper()
	f := &fakeLimitCA{script: map[string][]fakeResponse{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		f.mu.Lock()
		f.seen = append(f.seen, key)
		answer := fakeResponse{status: http.StatusOK}
		if s := f.script[key]; len(s) > 0 {
			answer = s[0]
			if len(s) > 1 {
				f.script[key] = s[1:]
			}
		}
		f.mu.Unlock()
		if answer.retryAfter != "" {
			w.Header().Set("Retry-After", answer.retryAfter)
		}
		if r.URL.Path == "/dir" && answer.status == http.StatusOK {
			_ = json.NewEncoder(w).Encode(map[string]string{"newNonce": f.srv.URL + "/nonce",
				"newAccount": f.srv.URL + "/account", "newOrder": f.srv.URL + "/order", "renewalInfo": f.srv.URL + "/ari"})
			return
		}
		w.WriteHeader(answer.status)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLimitCA) answer(key string, r ...fakeResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[key] = r
}

func (f *fakeLimitCA) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func (f *fakeLimitCA) client(l *limiter) *http.Client {
	return &http.Client{Transport: limitTransport{base: f.srv.Client().Transport, limiter: l}}
}

// orderRequest is a newOrder POST whose JWS payload names replaces, in a
// context marking exempt as the exempt replacement.
func orderRequest(t *testing.T, url, replaces, exempt string) *http.Request {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"identifiers": []any{}, "replaces": replaces})
	body, _ := json.Marshal(map[string]string{"protected": "e30", "payload": base64.RawURLEncoding.EncodeToString(payload), "signature": "c2ln"})
	req, err := http.NewRequestWithContext(withExemptOrder(context.Background(), exempt), http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestLimitTransportStorm: a 429 on a GET pauses every request, the GET is
// sent again once the pause is over, and nothing reaches the CA before.
func TestLimitTransportStorm(t *testing.T) {
	f := newFakeLimitCA(t)
	f.answer("GET /dir", fakeResponse{status: 429, retryAfter: "5"}, fakeResponse{status: 200})
	clk := newFakeClock(t0)
	l := newLimiter(f.srv.URL+"/dir", config.RateLimit{}, clk, zap.NewNop())
	c := f.client(l)

	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i, path := range []string{"/dir", "/authz/1", "/authz/2"} {
		if i == 1 {
			clk.waitSleeping(t, 1) // the directory GET met the pause
		}
		wg.Go(func() {
			resp, err := c.Get(f.srv.URL + path)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	clk.waitSleeping(t, 2)
	if got := f.requests(); len(got) != 1 {
		t.Fatalf("during the pause the CA saw %q, want only the refused GET", got)
	}
	clk.Advance(5 * time.Second)
	wg.Wait()
	if got := f.requests(); len(got) != 4 || got[0] != "GET /dir" || strings.Count(fmt.Sprint(got), "GET /dir") != 2 {
		t.Errorf("the CA saw %q, want the directory twice and each authorization once", got)
	}
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("request %d ended with %d", i, code)
		}
	}
	if l.pauses != 1 {
		t.Errorf("%d pauses, want 1", l.pauses)
	}
	if u := l.urls; u.NewOrder != f.srv.URL+"/order" || u.RenewalInfo != f.srv.URL+"/ari" {
		t.Errorf("learnt %+v from the directory", u)
	}
}

// TestLimitTransportPOSTNotRepeated: a refused POST goes back to lego as
// the CA sent it (its nonce is spent); the pause holds what follows.
func TestLimitTransportPOSTNotRepeated(t *testing.T) {
	f := newFakeLimitCA(t)
	f.answer("POST /chall/1", fakeResponse{status: 503, retryAfter: "garbage"})
	clk := newFakeClock(t0)
	l := newLimiter(f.srv.URL+"/dir", config.RateLimit{Pause: 30 * time.Second}, clk, zap.NewNop())
	resp, err := f.client(l).Post(f.srv.URL+"/chall/1", "application/jose+json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || len(f.requests()) != 1 {
		t.Errorf("status %d after %q; want the 503, sent once", resp.StatusCode, f.requests())
	}
	if until := l.pauseUntil; !until.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("pause until %s, want the configured 30s for an unreadable Retry-After", until)
	}
}

// TestLimitTransportOrderBudget: new orders count against the budget, but
// not the one replacing the certificate its context names as exempt.
func TestLimitTransportOrderBudget(t *testing.T) {
	f := newFakeLimitCA(t)
	clk := newFakeClock(t0)
	l := newLimiter(f.srv.URL+"/dir", config.RateLimit{Orders: config.OrderBudget{Max: 1, Window: time.Hour}}, clk, zap.NewNop())
	c := f.client(l)
	resp, err := c.Get(f.srv.URL + "/dir") // learn where newOrder is
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	order := f.srv.URL + "/order"
	steps := []struct {
		desc              string
		replaces, exempt  string
		wantBudgetRefusal bool
	}{
		{desc: "a first issuance uses the budget"},
		{desc: "an exempt replacement goes", replaces: "aaa.bbb", exempt: "aaa.bbb"},
		{desc: "a second exempt replacement goes", replaces: "ccc.ddd", exempt: "ccc.ddd"},
		{desc: "replaces without the window's exemption counts", replaces: "eee.fff", wantBudgetRefusal: true},
		{desc: "placed again without replaces: counts", exempt: "ggg.hhh", wantBudgetRefusal: true},
	}
	for _, s := range steps {
		resp, err := c.Do(orderRequest(t, order, s.replaces, s.exempt))
		if s.wantBudgetRefusal {
			if !errors.Is(err, errOrderBudget) {
				t.Errorf("%s: err %v, want the budget refusal", s.desc, err)
			}
			if at, ok := RetryAfter(err, t0); !ok || !at.Equal(t0.Add(time.Hour)) {
				t.Errorf("%s: RetryAfter = %s, %v; want in an hour", s.desc, at, ok)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", s.desc, err)
			continue
		}
		resp.Body.Close()
	}
	if n := strings.Count(fmt.Sprint(f.requests()), "POST /order"); n != 3 {
		t.Errorf("the CA saw %d new orders, want 3: %q", n, f.requests())
	}
}
