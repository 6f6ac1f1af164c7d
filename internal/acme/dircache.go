package acme

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// directoryTTL is how long a CA's directory is answered from memory. lego
// fetches the directory for every client it makes, and renewd makes one per
// order and per ARI request: without this, a pass over a thousand
// certificates asks for the same document two thousand times, against a
// limit of 40 a second at Let's Encrypt. A directory changes when a CA
// adds an endpoint, which a few minutes' delay does not hurt.
const directoryTTL = 5 * time.Minute

// directoryCache answers GETs of the CA's directory URL from the last
// successful answer, for directoryTTL. Concurrent misses wait for one
// request instead of each sending their own. Everything else passes
// through. It is shared by every Client for the directory.
type directoryCache struct {
	url string
	now func() time.Time

	mu       sync.Mutex
	body     []byte
	header   http.Header
	fetched  time.Time
	inflight chan struct{} // closed when the request under way ends
}

// directoryCaches holds the process's cache per directory URL.
var directoryCaches = struct {
	mu    sync.Mutex
	byURL map[string]*directoryCache
}{byURL: map[string]*directoryCache{}}

// directoryCacheFor returns the cache of directory.
func directoryCacheFor(directory string) *directoryCache {
	directoryCaches.mu.Lock()
	defer directoryCaches.mu.Unlock()
	c := directoryCaches.byURL[directory]
	if c == nil {
		c = &directoryCache{url: directory, now: time.Now}
		directoryCaches.byURL[directory] = c
	}
	return c
}

// cachedTransport is base with directory GETs answered from cache.
type cachedTransport struct {
	base  http.RoundTripper
	cache *directoryCache
}

var _ http.RoundTripper = cachedTransport{}

func (t cachedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.URL.String() != t.cache.url {
		return t.base.RoundTrip(req)
	}
	for {
		resp, wait, mine := t.cache.lookup(req)
		switch {
		case resp != nil:
			return resp, nil
		case mine:
			return t.fetch(req)
		}
		select {
		case <-wait:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}

// lookup returns a cached answer; or, when there is none, either a channel
// to wait on (another request is fetching) or mine=true (the caller
// fetches and must call store or release).
func (c *directoryCache) lookup(req *http.Request) (resp *http.Response, wait chan struct{}, mine bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.body != nil && c.now().Sub(c.fetched) < directoryTTL {
		return c.answer(req), nil, false
	}
	if c.inflight != nil {
		return nil, c.inflight, false
	}
	c.inflight = make(chan struct{})
	return nil, nil, true
}

// fetch asks the CA and keeps a successful answer.
func (t cachedTransport) fetch(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	c := t.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { close(c.inflight); c.inflight = nil }()
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxARIBody))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.body, c.header, c.fetched = body, resp.Header.Clone(), c.now()
	return c.answer(req), nil
}

// answer is a fresh response carrying the cached directory. The caller
// holds mu.
func (c *directoryCache) answer(req *http.Request) *http.Response {
	h := c.header.Clone()
	h.Set("Content-Length", strconv.Itoa(len(c.body)))
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: req,
	}
}
