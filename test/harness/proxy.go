package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Pebble's request paths: the classes the proxy counts requests under.
const (
	PebbleDirectory   = "/dir"
	PebbleNonce       = "/nonce-plz"
	PebbleNewAccount  = "/sign-me-up"
	PebbleAccount     = "/my-account/"
	PebbleNewOrder    = "/order-plz"
	PebbleOrder       = "/my-order/"
	PebbleFinalize    = "/finalize-order/"
	PebbleAuthz       = "/authZ/"
	PebbleChallenge   = "/chalZ/"
	PebbleCert        = "/certZ/"
	PebbleRenewalInfo = "/draft-ietf-acme-ari-03/renewalInfo/"
)

// PebbleClasses are the path classes a Proxy counts.
var PebbleClasses = []string{PebbleDirectory, PebbleNonce, PebbleNewAccount, PebbleAccount, PebbleNewOrder, PebbleOrder,
	PebbleFinalize, PebbleAuthz, PebbleChallenge, PebbleCert, PebbleRenewalInfo}

// ProxyRate is a token bucket the proxy holds clients to, as a CA would.
type ProxyRate struct {
	PerSecond int
	Burst     int
	// Tolerance is how many requests more than Burst may arrive at once:
	// requests a client sent at its pace can reach the proxy bunched by a
	// scheduler or a new TLS connection. 0 means PerSecond/5 (200 ms of
	// jitter), at least 2.
	Tolerance int
}

// ProxyOptions configure a Proxy.
type ProxyOptions struct {
	// TLS signs the proxy's HTTPS certificate; clients trust it.
	TLS *TLSCA
	// Intercept, when set, sees every request first and may answer it
	// itself, returning true: Pebble then never sees it.
	Intercept func(w http.ResponseWriter, r *http.Request) bool
	// Modify, when set, may change Pebble's answer before the client gets
	// it.
	Modify func(resp *http.Response) error
	// Limit, when PerSecond > 0, refuses a request over the bucket with
	// 429 (a rateLimited problem document, Retry-After: 1) and counts it in
	// Stats.Over: the client went faster than it was told to.
	Limit ProxyRate
	// GuardPebbleLocks keeps new orders and authorization requests from
	// reaching Pebble at the same time. Pebble v2.10.3 deadlocks when one
	// request holds its store's read lock while waiting for an
	// authorization's lock (a new order looking for a reusable
	// authorization), another holds that authorization's lock while asking
	// for the store's read lock (a POST to the authorization), and a
	// writer waits between them (Go's RWMutex lets no new reader past a
	// waiting writer). With thousands of authorizations stored and dozens
	// of orders at once it stalls every request for good.
	GuardPebbleLocks bool
}

// Request is one request the proxy saw.
type Request struct {
	At      time.Time
	Method  string
	Class   string // one of PebbleClasses, "" for none
	Refused string // "rate" or "storm" when the proxy refused it, "" when passed on (or intercepted)
	Status  int    // the answer's status, whoever gave it; 0 until it is sent
}

// ProxyStats sums up what the proxy saw.
type ProxyStats struct {
	Requests int
	// ByClass counts requests per path class.
	ByClass map[string]int
	// Over counts requests refused for going over Limit.
	Over int
	// StormRefused counts new orders refused by the storm; StormPassed new
	// orders that reached Pebble while the storm lasted.
	StormRefused, StormPassed int
	// StormStart is the first refused new order's arrival.
	StormStart time.Time
	// MaxPerSecond is the most requests in any one-second window.
	MaxPerSecond int
	// Orders counts the new orders Pebble created (answered 201).
	Orders int
}

// Proxy sits in front of Pebble: it counts every request with its time,
// can hold clients to a rate, can refuse new orders in a storm of 429s,
// and hands requests and answers to the caller's Intercept and Modify for
// faults Pebble cannot make. Pebble builds every URL from the request's
// Host, so keeping the client's Host is all it takes for the whole ACME
// conversation to go through the proxy.
type Proxy struct {
	// DirURL is Pebble's directory, through the proxy.
	DirURL string

	opts     ProxyOptions
	pebble   *http.Client
	nonceURL string
	release  chan struct{}
	guard    sync.RWMutex

	mu       sync.Mutex
	requests []Request
	tokens   float64
	last     time.Time
	storm    *storm
}

// storm refuses every new order for a while after the first one it sees.
type storm struct {
	max        int
	retryAfter time.Duration
	start      time.Time // zero until the first new order
	refused    int
	passed     int
}

// StartProxy starts a proxy to pb's ACME server on a free loopback port.
// It is closed when t ends; requests an Intercept holds should return when
// Released is closed, which happens first.
func StartProxy(t TB, pb *Pebble, o ProxyOptions) *Proxy {
	t.Helper()
	target, err := url.Parse(pb.DirURL)
	if err != nil {
		t.Fatalf("%v", err)
	}
	tr := &http.Transport{TLSClientConfig: o.TLS.Client().Transport.(*http.Transport).TLSClientConfig, MaxIdleConnsPerHost: 64}
	p := &Proxy{
		opts:     o,
		nonceURL: (&url.URL{Scheme: target.Scheme, Host: target.Host, Path: PebbleNonce}).String(),
		pebble:   &http.Client{Transport: tr},
		release:  make(chan struct{}),
		tokens:   float64(o.Limit.Burst + o.Limit.Slack()),
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
			pr.Out.Host = pr.In.Host
		},
		Transport:      tr,
		ModifyResponse: o.Modify,
	}
	certFile, keyFile, err := o.TLS.IssueServer(t.TempDir())
	if err != nil {
		t.Fatalf("%v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	srv := &http.Server{Handler: p.handler(rp)}
	go func() { _ = srv.ServeTLS(l, certFile, keyFile) }()
	t.Cleanup(func() { _ = srv.Close() })
	t.Cleanup(func() { close(p.release) }) // runs first: held handlers return
	p.DirURL = fmt.Sprintf("https://%s%s", l.Addr(), PebbleDirectory)
	return p
}

// Slack is Tolerance, or its default when it is 0.
func (r ProxyRate) Slack() int {
	if r.Tolerance > 0 {
		return r.Tolerance
	}
	return max(2, r.PerSecond/5)
}

// Released is closed when the test ends.
func (p *Proxy) Released() <-chan struct{} { return p.release }

// Storm arms a storm: the next new order starts it, and every new order
// arriving within retryAfter of that one (at most max of them) is refused
// with 429, a rateLimited problem document and a Retry-After saying when
// the storm ends, the way a CA refuses orders over its limit. A client
// that pauses everything at the first 429 meets it once; one whose
// workers each back off on their own send all of theirs into it.
func (p *Proxy) Storm(max int, retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.storm = &storm{max: max, retryAfter: retryAfter}
}

// Count is how many requests of a path class reached the proxy.
func (p *Proxy) Count(class string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.requests {
		if r.Class == class {
			n++
		}
	}
	return n
}

// Requests is every request the proxy saw, in order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// Stats sums up the requests so far.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := ProxyStats{Requests: len(p.requests), ByClass: map[string]int{}}
	j := 0
	for i, r := range p.requests {
		s.ByClass[r.Class]++
		if r.Refused == "rate" {
			s.Over++
		}
		if r.Class == PebbleNewOrder && r.Status == http.StatusCreated {
			s.Orders++
		}
		for r.At.Sub(p.requests[j].At) >= time.Second {
			j++
		}
		s.MaxPerSecond = max(s.MaxPerSecond, i-j+1)
	}
	if st := p.storm; st != nil {
		s.StormRefused, s.StormPassed, s.StormStart = st.refused, st.passed, st.start
	}
	return s
}

func (p *Proxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		refused, retryAfter, i := p.record(r)
		w := &statusWriter{ResponseWriter: rw}
		defer p.setStatus(i, w)
		if refused {
			p.Refuse(w, r, http.StatusTooManyRequests, "rateLimited", "proxy: too many requests", retryAfter)
			return
		}
		if p.opts.Intercept != nil && p.opts.Intercept(w, r) {
			return
		}
		if p.opts.GuardPebbleLocks {
			switch class := classOf(r.URL.Path); class {
			case PebbleNewOrder:
				p.guard.Lock()
				defer p.guard.Unlock()
			case PebbleAuthz:
				p.guard.RLock()
				defer p.guard.RUnlock()
			}
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status of the answer it carries.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets httputil.ReverseProxy flush through.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (p *Proxy) setStatus(i int, w *statusWriter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[i].Status = w.status
}

// record logs r and decides whether the proxy refuses it: over the rate
// limit, or a new order in a storm. retryAfter is then the header to send;
// i is r's index in the log.
func (p *Proxy) record(r *http.Request) (refused bool, retryAfter string, i int) {
	now := time.Now()
	req := Request{At: now, Method: r.Method, Class: classOf(r.URL.Path)}
	p.mu.Lock()
	defer p.mu.Unlock()
	i = len(p.requests)
	defer func() { p.requests = append(p.requests, req) }()
	if lim := p.opts.Limit; lim.PerSecond > 0 {
		if !p.last.IsZero() {
			p.tokens = min(float64(lim.Burst+lim.Slack()), p.tokens+now.Sub(p.last).Seconds()*float64(lim.PerSecond))
		}
		p.last = now
		if p.tokens < 1 {
			req.Refused = "rate"
			return true, "1", i
		}
		p.tokens--
	}
	st := p.storm
	if st == nil || req.Class != PebbleNewOrder || r.Method != http.MethodPost {
		return false, "", i
	}
	if st.start.IsZero() {
		st.start = now
	}
	end := st.start.Add(st.retryAfter)
	if !now.Before(end) {
		return false, "", i
	}
	if st.refused >= st.max {
		st.passed++
		return false, "", i
	}
	st.refused++
	req.Refused = "storm"
	return true, strconv.Itoa(int((end.Sub(now) + time.Second - 1) / time.Second)), i
}

func classOf(path string) string {
	for _, c := range PebbleClasses {
		if strings.HasPrefix(path, c) {
			return c
		}
	}
	return ""
}

// Refuse answers r as Pebble would refuse it: status, a problem document
// of type typ (urn:ietf:params:acme:error:typ) with detail, a fresh
// Replay-Nonce (a client may use it at once, as Boulder allows) and
// retryAfter as Retry-After when it is set.
func (p *Proxy) Refuse(w http.ResponseWriter, r *http.Request, status int, typ, detail, retryAfter string) {
	if r.Method == http.MethodPost || strings.HasPrefix(r.URL.Path, PebbleNonce) {
		if nonce := p.FreshNonce(); nonce != "" {
			w.Header().Set("Replay-Nonce", nonce)
		}
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "urn:ietf:params:acme:error:" + typ, "detail": detail, "status": status,
	})
}

// FreshNonce asks Pebble for a nonce it will accept.
func (p *Proxy) FreshNonce() string {
	resp, err := p.pebble.Head(p.nonceURL)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	return resp.Header.Get("Replay-Nonce")
}

// ReplaceBody reads resp's body and replaces it with edit's result (the
// same bytes when edit is nil). It returns what it read.
func ReplaceBody(resp *http.Response, edit func([]byte) ([]byte, error)) ([]byte, error) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	out := body
	if edit != nil {
		if out, err = edit(body); err != nil {
			return nil, err
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return body, nil
}
