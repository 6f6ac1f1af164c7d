package acme

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDirectoryCache(t *testing.T) {
	var hits atomic.Int32
	var status atomic.Int32
	status.Store(http.StatusOK)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/dir" {
			<-release
		}
		w.WriteHeader(int(status.Load()))
		_, _ = io.WriteString(w, `{"newOrder":"x"}`)
	}))
	defer srv.Close()
	now := t0
	cache := &directoryCache{url: srv.URL + "/dir", now: func() time.Time { return now }}
	c := &http.Client{Transport: cachedTransport{base: srv.Client().Transport, cache: cache}}
	get := func(path string) (int, string) {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	// Concurrent misses: one request reaches the CA, all get its answer.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if code, body := get("/dir"); code != 200 || body != `{"newOrder":"x"}` {
				t.Errorf("got %d %q", code, body)
			}
		})
	}
	for hits.Load() == 0 { // the first request is at the CA; the others wait for it
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := hits.Load(); n != 1 {
		t.Errorf("5 concurrent GETs of the directory reached the CA %d times, want 1", n)
	}
	steps := []struct {
		desc    string
		advance time.Duration
		path    string
		status  int
		hits    int32 // requests the CA has seen after the step
	}{
		{desc: "fresh: from memory", advance: time.Minute, path: "/dir", status: 200, hits: 1},
		{desc: "other URLs pass through", path: "/nonce", status: 200, hits: 2},
		{desc: "stale: asked again", advance: directoryTTL, path: "/dir", status: 200, hits: 3},
		{desc: "an error is passed on", advance: directoryTTL, path: "/dir", status: 503, hits: 4},
		{desc: "and not kept", path: "/dir", status: 503, hits: 5},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		status.Store(int32(s.status))
		if code, _ := get(s.path); code != s.status {
			t.Errorf("%s: status %d, want %d", s.desc, code, s.status)
		}
		if n := hits.Load(); n != s.hits {
			t.Errorf("%s: the CA saw %d requests, want %d", s.desc, n, s.hits)
		}
	}
}
