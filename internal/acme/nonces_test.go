package acme

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

func TestNoncePool(t *testing.T) {
	now := t0
	p := &noncePool{now: func() time.Time { return now }}
	if _, ok := p.take(); ok {
		t.Fatal("an empty pool handed out a nonce")
	}
	p.put("a")
	p.put("b")
	if n, _ := p.take(); n != "b" {
		t.Errorf("took %q, want the freshest, b", n)
	}
	if n, _ := p.take(); n != "a" {
		t.Errorf("took %q, want a", n)
	}
	if n, ok := p.take(); ok {
		t.Errorf("took %q twice", n)
	}
	p.put("old")
	now = now.Add(maxNonceAge)
	if n, ok := p.take(); ok {
		t.Errorf("took %q after %s: stale nonces cost the CA a badNonce answer", n, maxNonceAge)
	}
	for i := range maxPooledNonces + 10 {
		p.put(fmt.Sprint(i))
	}
	if len(p.nonces) != maxPooledNonces || p.nonces[0].value != "10" {
		t.Errorf("pool holds %d nonces from %q, want the %d freshest", len(p.nonces), p.nonces[0].value, maxPooledNonces)
	}
}

// TestNonceTransport: newNonce is asked only when the pool is dry; the
// nonce of every other answer goes to the pool, not to lego's own client.
func TestNonceTransport(t *testing.T) {
	var heads, posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nonce":
			w.Header().Set("Replay-Nonce", fmt.Sprintf("from-ca-%d", heads.Add(1)))
		default:
			w.Header().Set("Replay-Nonce", fmt.Sprintf("fresh-%d", posts.Add(1)))
		}
	}))
	defer srv.Close()
	l := newLimiter(srv.URL+"/dir", config.RateLimit{}, newFakeClock(t0), zap.NewNop())
	l.learn(dirURLs{NewNonce: srv.URL + "/nonce"})
	c := &http.Client{Transport: limitTransport{base: srv.Client().Transport, limiter: l, nonces: &noncePool{now: time.Now}}}
	do := func(method, path string) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(""))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Replay-Nonce")
	}
	steps := []struct {
		desc, method, path, want string
		heads                    int32
	}{
		{desc: "a dry pool: newNonce asked", method: http.MethodHead, path: "/nonce", want: "from-ca-1", heads: 1},
		{desc: "a signed request's fresh nonce goes to the pool", method: http.MethodPost, path: "/order", want: "", heads: 1},
		{desc: "newNonce answered from the pool", method: http.MethodHead, path: "/nonce", want: "fresh-1", heads: 1},
		{desc: "never twice", method: http.MethodHead, path: "/nonce", want: "from-ca-2", heads: 2},
		{desc: "GET newNonce from the pool too", method: http.MethodPost, path: "/authz", want: "", heads: 2},
		{desc: "…", method: http.MethodGet, path: "/nonce", want: "fresh-2", heads: 2},
	}
	for _, s := range steps {
		if got := do(s.method, s.path); got != s.want || heads.Load() != s.heads {
			t.Errorf("%s: Replay-Nonce %q after %d newNonce requests, want %q after %d", s.desc, got, heads.Load(), s.want, s.heads)
		}
	}
}

// TestNonceWaitsForThePool: a newNonce request over its pace waits; a
// nonce coming back with another answer meanwhile serves it, and the CA is
// not asked.
func TestNonceWaitsForThePool(t *testing.T) {
	var heads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nonce" {
			heads.Add(1)
			w.Header().Set("Replay-Nonce", "from-ca")
			return
		}
		w.Header().Set("Replay-Nonce", "fresh")
	}))
	defer srv.Close()
	clk := newFakeClock(t0)
	l := newLimiter(srv.URL+"/dir", config.RateLimit{Endpoints: config.EndpointRates{NewNonce: config.Rate{PerSecond: 1, Burst: 1}}}, clk, zap.NewNop())
	l.learn(dirURLs{NewNonce: srv.URL + "/nonce"})
	pool := &noncePool{now: clk.Now}
	c := &http.Client{Transport: limitTransport{base: srv.Client().Transport, limiter: l, nonces: pool}}
	head := func() string {
		req, _ := http.NewRequest(http.MethodHead, srv.URL+"/nonce", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Error(err)
			return ""
		}
		resp.Body.Close()
		return resp.Header.Get("Replay-Nonce")
	}
	if got := head(); got != "from-ca" {
		t.Fatalf("first newNonce: %q", got)
	}
	got := make(chan string, 1)
	go func() { got <- head() }()
	clk.waitSleeping(t, 1) // over its pace: it waits
	resp, err := c.Post(srv.URL+"/order", "application/jose+json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case n := <-got:
		if n != "fresh" {
			t.Errorf("the waiting newNonce got %q, want the pooled nonce", n)
		}
	case <-time.After(10 * time.Second): // a guard against a hang, not a wait for time
		t.Fatal("the waiting newNonce was not served from the pool")
	}
	if n := heads.Load(); n != 1 {
		t.Errorf("the CA saw %d newNonce requests, want 1", n)
	}
}
