package acme

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The endpoints that Client.ObserveRequest reports; every request falls in one of them,
// so a metric labelled with it stays small whatever URLs a CA hands out.
const (
	endpointDirectory   = "directory"
	endpointNonce       = "nonce"
	endpointAccount     = "account"
	endpointOrder       = "order"
	endpointAuthz       = "authz"
	endpointChallenge   = "challenge"
	endpointFinalize    = "finalize"
	endpointCertificate = "certificate"
	endpointRenewalInfo = "renewal-info"
	endpointOther       = "other"
)

// endpointWords maps path segments (lower-cased) of Pebble's, Boulder's
// (Let's Encrypt) and RFC 8555-style CAs' URLs to an endpoint. Object URLs
// carry random ids, so a segment is matched whole, never as a substring.
var endpointWords = map[string]string{
	"dir": endpointDirectory, "directory": endpointDirectory,
	"nonce-plz": endpointNonce, "new-nonce": endpointNonce, "newnonce": endpointNonce,
	"sign-me-up": endpointAccount, "my-account": endpointAccount, "new-acct": endpointAccount, "acct": endpointAccount,
	"new-account": endpointAccount, "newaccount": endpointAccount, "account": endpointAccount,
	"rollover-account-key": endpointAccount, "key-change": endpointAccount, "keychange": endpointAccount,
	"order-plz": endpointOrder, "my-order": endpointOrder, "new-order": endpointOrder, "neworder": endpointOrder,
	"order": endpointOrder, "list-orderz": endpointOrder, "orders": endpointOrder,
	"authz": endpointAuthz, "authz-v3": endpointAuthz, "authorization": endpointAuthz,
	"chalz": endpointChallenge, "chall": endpointChallenge, "chall-v3": endpointChallenge, "challenge": endpointChallenge,
	"finalize-order": endpointFinalize, "finalize": endpointFinalize,
	"certz": endpointCertificate, "cert": endpointCertificate, "certificate": endpointCertificate,
	"renewalinfo": endpointRenewalInfo, "renewal-info": endpointRenewalInfo,
}

// endpointRank orders the endpoints for a path with several known segments:
// ZeroSSL finalizes at .../order/ID/finalize, and Boulder's challenge URL
// ends in an authorization id.
var endpointRank = map[string]int{
	endpointRenewalInfo: 1, endpointFinalize: 2, endpointChallenge: 3, endpointAuthz: 4,
	endpointCertificate: 5, endpointOrder: 6, endpointAccount: 7, endpointNonce: 8, endpointDirectory: 9,
}

// classifyEndpoint returns the endpoint of a request to u. directory is the
// configured directory URL: it is "directory" whatever its path
// (ZeroSSL's is /v2/DV90).
func classifyEndpoint(u, directory *url.URL) string {
	if directory != nil && strings.EqualFold(u.Host, directory.Host) && u.Path == directory.Path {
		return endpointDirectory
	}
	best := endpointOther
	for seg := range strings.SplitSeq(u.Path, "/") {
		e, ok := endpointWords[strings.ToLower(seg)]
		if ok && (best == endpointOther || endpointRank[e] < endpointRank[best]) {
			best = e
		}
	}
	return best
}

// observeTransport reports the method, endpoint, status (0 when no answer
// came) and duration of every request to the CA. The duration ends when the
// answer's headers have arrived, as promhttp's client instrumentation does.
type observeTransport struct {
	base      http.RoundTripper
	directory *url.URL
	observe   func(method, endpoint string, code int, d time.Duration)
}

func (t observeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	code := 0
	if err == nil {
		code = resp.StatusCode
	}
	t.observe(req.Method, classifyEndpoint(req.URL, t.directory), code, time.Since(start))
	return resp, err
}

// observed wraps base in an observeTransport when ObserveRequest is set.
func (c *Client) observed(base http.RoundTripper) http.RoundTripper {
	if c.ObserveRequest == nil {
		return base
	}
	dir, err := url.Parse(c.cfg.Directory)
	if err != nil {
		dir = nil // config validation makes this unreachable; classify by path alone
	}
	return observeTransport{base: base, directory: dir, observe: c.ObserveRequest}
}
