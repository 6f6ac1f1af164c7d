package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/renewd/renewd/test/harness"
)

// proxyMode says how caProxy rewrites Pebble's answers.
type proxyMode int32

const (
	passThrough proxyMode = iota
	// leafOnly cuts the certificate download to its first PEM block: the
	// BaoTa-style "cert without root" answer renewd must never store.
	leafOnly
	// caRateLimited answers 429 with a rateLimited problem document and
	// the fault's retryAfter, the way Boulder refuses a new order over a
	// limit. Pebble never sees the request.
	caRateLimited
	// caUnavailable answers 503 with the fault's retryAfter: a CA in
	// maintenance.
	caUnavailable
	// caServerError answers 500 with a serverInternal problem document.
	// Pebble never sees the request.
	caServerError
	// caLostAnswer lets Pebble act on the request, then replaces its
	// answer with a 500 (keeping Pebble's fresh Replay-Nonce): the CA did
	// the work, the client never heard.
	caLostAnswer
	// caHang holds the request until the client gives up (or the test ends).
	caHang
	// garbageCert answers the certificate download with a body that is not
	// a certificate (the fault's body when set).
	garbageCert
	// hugeCert answers the certificate download with the real chain
	// repeated to more than 1 MiB.
	hugeCert
	// foreignCert answers the certificate download with the fault's body:
	// a chain Pebble issued for another order.
	foreignCert
	// unsafeToken puts the fault's token into every challenge of an
	// authorization.
	unsafeToken
	// slowPoll answers a challenge with "processing" and the fault's
	// retryAfter: a CA asking to be polled, say, once a day.
	slowPoll
)

// Pebble's request paths, the path classes a fault applies to.
const (
	pebbleAny       = "/"
	pebbleNewOrder  = harness.PebbleNewOrder
	pebbleFinalize  = harness.PebbleFinalize
	pebbleCert      = harness.PebbleCert
	pebbleAuthz     = harness.PebbleAuthz
	pebbleChallenge = harness.PebbleChallenge
	pebbleNonce     = harness.PebbleNonce
)

// proxyFault is what the proxy does to the requests under path.
type proxyFault struct {
	mode proxyMode
	// path is the path class (a prefix); empty means the mode's usual one.
	path string
	// retryAfter is the Retry-After header of caRateLimited, caUnavailable and
	// slowPoll answers; empty sends none.
	retryAfter string
	// times limits the fault to the first times matching requests; 0 is
	// every one.
	times int32
	body  []byte // garbageCert, foreignCert
	token string // unsafeToken
}

// defaultPath is where each mode applies unless the fault names a path.
func (m proxyMode) defaultPath() string {
	switch m {
	case leafOnly, garbageCert, hugeCert, foreignCert:
		return pebbleCert
	case unsafeToken:
		return pebbleAuthz
	case slowPoll:
		return pebbleChallenge
	case caRateLimited, caHang:
		return pebbleNewOrder
	default:
		return pebbleAny
	}
}

// activeProxyFault is a fault with its remaining uses.
type activeProxyFault struct {
	proxyFault
	left atomic.Int32
}

// take reports whether the fault applies to a request for path, and uses
// one of its times when it does.
func (f *activeProxyFault) take(path string) bool {
	if f.mode == passThrough || !strings.HasPrefix(path, f.path) {
		return false
	}
	return f.times == 0 || f.left.Add(-1) >= 0
}

// caProxy sits in front of Pebble and makes the faults Pebble cannot, on
// the shared harness proxy (which counts the requests and makes the
// storms and rate limits of the limiter tests).
type caProxy struct {
	*harness.Proxy
	dirURL string

	// noARI takes renewalInfo out of the directory: a CA without ARI,
	// whose orders never carry "replaces".
	noARI     atomic.Bool
	fault     atomic.Pointer[activeProxyFault]
	certs     atomic.Int32 // certificate downloads seen
	faulted   atomic.Int32 // requests the fault was applied to
	heldPoll  atomic.Bool  // slowPoll: the first authorization poll after the challenge was answered "pending"
	gaveUp    atomic.Int32 // hung requests the client abandoned
	badNonces atomic.Int32 // badNonce answers from Pebble
	created   atomic.Int32 // orders Pebble created (201 to newOrder): what a CA's order limits count

	mu       sync.Mutex
	lastCert []byte // the last certificate answer passed on unchanged
}

func startProxy(t *testing.T, pb *pebble) *caProxy {
	t.Helper()
	return startProxyWith(t, pb, harness.ProxyOptions{})
}

// startProxyWith is startProxy with harness options (a rate limit, the
// Pebble lock guard); the fault hooks are the caProxy's own.
func startProxyWith(t *testing.T, pb *pebble, o harness.ProxyOptions) *caProxy {
	t.Helper()
	p := &caProxy{}
	p.setMode(passThrough)
	o.TLS, o.Intercept, o.Modify = env.tls.TLSCA, p.intercept, p.modify
	p.Proxy = harness.StartProxy(t, pb.Pebble, o)
	p.dirURL = p.DirURL
	return p
}

// setMode switches to mode m on its usual path class, every time.
func (p *caProxy) setMode(m proxyMode) { p.set(proxyFault{mode: m}) }

// set switches to fault f for the requests from now on.
func (p *caProxy) set(f proxyFault) {
	if f.path == "" {
		f.path = f.mode.defaultPath()
	}
	a := &activeProxyFault{proxyFault: f}
	a.left.Store(f.times)
	p.fault.Store(a)
}

// orders is how many orders Pebble created: a POST to newOrder that a
// bad nonce made lego send again counts once.
func (p *caProxy) orders() int { return int(p.created.Load()) }

// count is how many requests of a path class reached the proxy.
func (p *caProxy) count(class string) int { return p.Count(class) }

// lastCertificate is the last certificate answer Pebble gave unchanged.
func (p *caProxy) lastCertificate() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.lastCert)
}

// intercept answers the faults that never reach Pebble.
func (p *caProxy) intercept(w http.ResponseWriter, r *http.Request) bool {
	f := p.fault.Load()
	switch f.mode {
	case caRateLimited, caUnavailable, caServerError, caHang:
		if f.take(r.URL.Path) {
			p.faulted.Add(1)
			p.answer(w, r, f)
			return true
		}
	}
	return false
}

// answer makes up the CA's answer to r without asking Pebble.
func (p *caProxy) answer(w http.ResponseWriter, r *http.Request, f *activeProxyFault) {
	if f.mode == caHang {
		// The server notices the client going away only once the body
		// is read: read it, as a CA would, then never answer.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			p.gaveUp.Add(1)
		case <-p.Released():
		}
		return
	}
	status, typ, detail := http.StatusInternalServerError, "serverInternal", "proxy: internal error"
	switch f.mode {
	case caRateLimited:
		status, typ, detail = http.StatusTooManyRequests, "rateLimited", "proxy: too many new orders recently"
	case caUnavailable:
		status, detail = http.StatusServiceUnavailable, "proxy: the service is down for maintenance"
	}
	p.Refuse(w, r, status, typ, detail, f.retryAfter)
}

func (p *caProxy) modify(resp *http.Response) error {
	path := resp.Request.URL.Path
	if resp.StatusCode == http.StatusCreated && strings.HasPrefix(path, pebbleNewOrder) {
		p.created.Add(1)
	}
	f := p.fault.Load()
	if f.mode == caLostAnswer && f.take(path) {
		p.faulted.Add(1)
		return loseAnswer(resp)
	}
	if resp.StatusCode == http.StatusBadRequest {
		body, err := harness.ReplaceBody(resp, nil)
		if err != nil {
			return err
		}
		if bytes.Contains(body, []byte("urn:ietf:params:acme:error:badNonce")) {
			p.badNonces.Add(1)
		}
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	if path == "/dir" && p.noARI.Load() {
		_, err := harness.ReplaceBody(resp, func(body []byte) ([]byte, error) {
			var dir map[string]any
			if err := json.Unmarshal(body, &dir); err != nil {
				return nil, fmt.Errorf("proxy: directory is not JSON: %w", err)
			}
			delete(dir, "renewalInfo")
			return json.Marshal(dir)
		})
		return err
	}
	isCert := strings.HasPrefix(path, pebbleCert)
	if isCert {
		p.certs.Add(1)
	}
	if f.mode == slowPoll && strings.HasPrefix(path, pebbleAuthz) && p.faulted.Load() > 0 && p.heldPoll.CompareAndSwap(false, true) {
		// lego polls the authorization once at once, then waits: when
		// Pebble validated first, that poll would end the wait the test
		// is about. Answer it "pending", once.
		_, err := harness.ReplaceBody(resp, func(body []byte) ([]byte, error) {
			var authz map[string]any
			if err := json.Unmarshal(body, &authz); err != nil {
				return nil, fmt.Errorf("proxy: authorization is not JSON: %w", err)
			}
			authz["status"] = "pending"
			return json.Marshal(authz)
		})
		return err
	}
	switch f.mode {
	case leafOnly, garbageCert, hugeCert, foreignCert, unsafeToken, slowPoll:
		if f.take(path) {
			p.faulted.Add(1)
			return p.rewrite(resp, f)
		}
	}
	if isCert {
		body, err := harness.ReplaceBody(resp, nil)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.lastCert = body
		p.mu.Unlock()
	}
	return nil
}

// rewrite changes Pebble's successful answer as f says.
func (p *caProxy) rewrite(resp *http.Response, f *activeProxyFault) error {
	switch f.mode {
	case slowPoll:
		resp.Header.Set("Retry-After", f.retryAfter)
		// Pebble may have validated already; "processing" makes the client
		// wait the Retry-After before polling, every time.
		_, err := harness.ReplaceBody(resp, func(body []byte) ([]byte, error) {
			var chal map[string]any
			if err := json.Unmarshal(body, &chal); err != nil {
				return nil, fmt.Errorf("proxy: challenge is not JSON: %w", err)
			}
			chal["status"] = "processing"
			delete(chal, "validated")
			return json.Marshal(chal)
		})
		return err
	case leafOnly:
		_, err := harness.ReplaceBody(resp, func(body []byte) ([]byte, error) {
			block, _ := pem.Decode(body)
			if block == nil {
				return nil, fmt.Errorf("proxy: certificate answer is not PEM")
			}
			return pem.EncodeToMemory(block), nil
		})
		resp.Header.Del("Link") // no alternate chains to fall back to
		return err
	case garbageCert:
		_, err := harness.ReplaceBody(resp, func([]byte) ([]byte, error) {
			if f.body != nil {
				return f.body, nil
			}
			return []byte("<html><body><h1>502 Bad Gateway</h1></body></html>\n"), nil
		})
		resp.Header.Del("Link")
		return err
	case hugeCert:
		_, err := harness.ReplaceBody(resp, func(body []byte) ([]byte, error) {
			if len(body) == 0 {
				return nil, fmt.Errorf("proxy: empty certificate answer")
			}
			return bytes.Repeat(body, (1<<20)/len(body)+2), nil
		})
		resp.Header.Del("Link")
		return err
	case foreignCert:
		_, err := harness.ReplaceBody(resp, func([]byte) ([]byte, error) { return f.body, nil })
		resp.Header.Del("Link")
		return err
	case unsafeToken:
		_, err := harness.ReplaceBody(resp, func(body []byte) ([]byte, error) {
			var authz map[string]any
			if err := json.Unmarshal(body, &authz); err != nil {
				return nil, fmt.Errorf("proxy: authorization is not JSON: %w", err)
			}
			chals, _ := authz["challenges"].([]any)
			for _, c := range chals {
				if m, ok := c.(map[string]any); ok {
					m["token"] = f.token
				}
			}
			return json.Marshal(authz)
		})
		return err
	}
	return nil
}

// loseAnswer turns Pebble's answer into a 500 problem document.
func loseAnswer(resp *http.Response) error {
	resp.StatusCode, resp.Status = http.StatusInternalServerError, "500 Internal Server Error"
	resp.Header.Set("Content-Type", "application/problem+json")
	resp.Header.Del("Location")
	resp.Header.Del("Retry-After")
	_, err := harness.ReplaceBody(resp, func([]byte) ([]byte, error) {
		return json.Marshal(map[string]any{"type": "urn:ietf:params:acme:error:serverInternal",
			"detail": "proxy: the answer was lost", "status": http.StatusInternalServerError})
	})
	return err
}
