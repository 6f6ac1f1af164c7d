package acme

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
)

// maxPausedRetries bounds how often one GET, HEAD or refused new order is
// sent again after a pause the CA asked for: a CA that answers 429 every
// time gets a few requests, not one every pause forever.
const maxPausedRetries = 3

// limitTransport sends every request to the CA through its limiter (see
// limiter.wait), learns the directory's URLs from its answer, and starts a
// pause on a 429 or 503 that asks for one. A GET or HEAD that met a pause
// the CA gave a time for is sent again once the pause is over (it carries
// no nonce, so the same request is valid again); a POST is not: its nonce
// is spent, and a refused new order is placed again by Client.orderPaced.
type limitTransport struct {
	base    http.RoundTripper
	limiter *limiter
	nonces  *noncePool // nil: none shared
}

var _ http.RoundTripper = limitTransport{}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tk := ticket{endpoint: t.limiter.endpoint(req)}
	if tk.endpoint == limitNewOrder {
		tk.order = !exemptOrder(req)
	}
	waited := false
	if tk.endpoint == limitNewNonce && t.nonces != nil && (req.Method == http.MethodHead || req.Method == http.MethodGet) {
		nonce, send, err := t.limiter.nonceOrTurn(req.Context(), t.nonces)
		if err != nil {
			return nil, err
		}
		if !send {
			return nonceAnswer(req, nonce), nil
		}
		waited = true // its turn is taken
	}
	for attempt := 0; ; attempt++ {
		if !waited {
			if err := t.limiter.wait(req.Context(), tk); err != nil {
				return nil, err
			}
		}
		waited, tk.order = false, false // the budget is taken once, whatever the retries
		resp, err := t.base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		t.keepNonce(tk.endpoint, resp)
		if tk.endpoint == limitDirectory && resp.StatusCode == http.StatusOK {
			t.learn(resp)
		}
		now := t.limiter.clock.Now()
		until, told, ok := t.limiter.pauseFor(resp.StatusCode, resp.Header.Get("Retry-After"), now)
		if !ok {
			return resp, nil
		}
		t.limiter.pause(until, told, resp.StatusCode, classifyEndpoint(req.URL, nil), resp.Header.Get("Retry-After"))
		retry := (req.Method == http.MethodGet || req.Method == http.MethodHead) && told && attempt < maxPausedRetries &&
			!until.After(waitLimit(req.Context(), now))
		if !retry {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
}

// keepNonce moves the Replay-Nonce of an answer into the shared pool; a
// newNonce answer keeps its nonce, which lego asked for.
func (t limitTransport) keepNonce(endpoint string, resp *http.Response) {
	if t.nonces == nil || endpoint == limitNewNonce {
		return
	}
	if nonce := resp.Header.Get("Replay-Nonce"); nonce != "" {
		t.nonces.put(nonce)
		resp.Header.Del("Replay-Nonce")
	}
}

// learn reads the directory's URLs from its answer, leaving the body for
// lego to read.
func (t limitTransport) learn(resp *http.Response) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxARIBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return
	}
	var u dirURLs
	if json.Unmarshal(body, &u) == nil {
		t.limiter.learn(u)
	}
}

// exemptKey is the context key of the ARI CertID whose replacement order is
// exempt from the order budget (see withExemptOrder).
type exemptKey struct{}

// withExemptOrder marks ctx's new order that replaces certID inside the
// CA's renewal window: Let's Encrypt exempts such renewals from its limit
// on new orders, so renewd's budget does not count them.
func withExemptOrder(ctx context.Context, certID string) context.Context {
	if certID == "" {
		return ctx
	}
	return context.WithValue(ctx, exemptKey{}, certID)
}

// exemptOrder reports whether a newOrder request is the exempt replacement
// its context names: the order it sends must carry that CertID in its
// replaces field. An order placed again without replaces (lego does that
// after alreadyReplaced, and obtainReplacing after other refusals) counts.
func exemptOrder(req *http.Request) bool {
	id, _ := req.Context().Value(exemptKey{}).(string)
	if id == "" || req.GetBody == nil {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	defer body.Close()
	var jws struct {
		Payload string `json:"payload"`
	}
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&jws); err != nil {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		return false
	}
	var order struct {
		Replaces string `json:"replaces"`
	}
	return json.Unmarshal(payload, &order) == nil && order.Replaces == id
}
