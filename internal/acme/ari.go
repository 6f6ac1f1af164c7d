package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/acme/api"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

// ErrNoARI says the CA's directory has no renewalInfo endpoint: the CA does
// not implement ACME Renewal Information (RFC 9773).
var ErrNoARI = errors.New("the CA does not offer renewal information (ARI, RFC 9773)")

// RenewalInfo is what the CA suggests for renewing one certificate
// (RFC 9773 section 4.2).
type RenewalInfo struct {
	// WindowStart and WindowEnd are the suggested window, UTC, as the CA
	// sent them: see Valid.
	WindowStart, WindowEnd time.Time
	// ExplanationURL is a page for people on why the window is what it is;
	// empty when the CA sent none, or something other than an http(s) URL
	// of at most 2048 bytes.
	ExplanationURL string
	// RetryAfter is how long the CA asks clients to wait before asking
	// again. Zero when it sent none, or one that is not a positive number
	// of seconds or a future HTTP date (RFC 9773 section 4.3.3 says to use a
	// default then). Not clamped: that is the caller's policy.
	RetryAfter time.Duration
}

// Valid reports whether the window can be used: both ends set and the
// start before the end. RFC 9773 section 4.2: clients treat any other
// window as if the CA had not answered.
func (ri *RenewalInfo) Valid() bool {
	return ri != nil && !ri.WindowStart.IsZero() && ri.WindowStart.Before(ri.WindowEnd)
}

const (
	// ariTimeout bounds one renewalInfo request (and the directory request
	// before it): ARI is advice, never worth holding up a run for.
	ariTimeout = 30 * time.Second
	// maxARIBody bounds what is read from the CA for one ARI request; real
	// answers are a few hundred bytes, directories a few kilobytes.
	maxARIBody = 1 << 20
)

// RenewalInfo asks the CA when it suggests renewing leaf (RFC 9773). It
// returns ErrNoARI when the CA's directory has no renewalInfo endpoint, and
// an error when the CA answers with an HTTP error (404: the CA does not know
// the certificate) or something that is not a renewal information object.
// It does not judge the window: see Valid. It needs no account and signs
// nothing, takes at most 30 seconds (less when ctx ends first), and is safe
// for concurrent use.
func (c *Client) RenewalInfo(ctx context.Context, leaf *x509.Certificate) (*RenewalInfo, error) {
	if leaf == nil {
		return nil, errors.New("renewal info: no certificate")
	}
	ctx, cancel := context.WithTimeout(ctx, ariTimeout)
	defer cancel()
	key, err := ariKey()
	if err != nil {
		return nil, fmt.Errorf("renewal info: %w", err)
	}
	tr := &ariTransport{base: ctxTransport{ctx: ctx, base: c.caTransport()}, now: time.Now}
	lc := lego.NewConfig(ariUser{key: key})
	lc.CADirURL = c.cfg.Directory
	lc.UserAgent = "renewd"
	lc.HTTPClient = &http.Client{Transport: tr, Timeout: ariTimeout}
	client, err := lego.NewClient(lc)
	if err != nil {
		return nil, fmt.Errorf("reach CA %s: %w", c.cfg.Directory, err)
	}
	resp, err := client.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: leaf})
	switch {
	case errors.Is(err, api.ErrNoARI):
		return nil, ErrNoARI
	case err != nil && tr.status >= http.StatusBadRequest:
		// lego reads the body whatever the status; an error document
		// that is not JSON fails to decode. The status says more.
		return nil, tr.statusError(leaf)
	case err != nil:
		if ctx.Err() != nil {
			return nil, fmt.Errorf("renewal info: %w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("renewal info: %w", err)
	case tr.status >= http.StatusBadRequest:
		// An error document decodes into an empty window: lego does not
		// look at the status of this request.
		return nil, tr.statusError(leaf)
	}
	return &RenewalInfo{
		WindowStart:    resp.SuggestedWindow.Start.UTC(),
		WindowEnd:      resp.SuggestedWindow.End.UTC(),
		ExplanationURL: explanationURL(resp.ExplanationURL),
		RetryAfter:     tr.retryAfter,
	}, nil
}

// explanationURL returns the CA's explanation URL if it is an http(s) URL
// of reasonable length, otherwise "": it is shown to people on a terminal
// and kept in the records, and url.Parse refuses control characters.
func explanationURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || len(s) > 2048 || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return s
}

// ariTransport is the transport of one ARI request. It keeps the status and
// the Retry-After of the last answer and bounds its size. It takes
// Retry-After out of the answer after parsing it: lego fails the whole
// answer on a value it cannot parse, where RFC 9773 section 4.3.3 treats
// such a value as absent. One ariTransport serves one request at a time.
type ariTransport struct {
	base http.RoundTripper
	now  func() time.Time

	status     int
	retryAfter time.Duration
}

func (t *ariTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	t.status, t.retryAfter = resp.StatusCode, 0
	now := t.now()
	if at, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok && at.After(now) {
		// parseRetryAfter rounds the time up to a second; "21600" is 6h.
		t.retryAfter = at.Sub(now).Truncate(time.Second)
	}
	resp.Header.Del("Retry-After")
	resp.Body = limitedBody{Reader: io.LimitReader(resp.Body, maxARIBody), Closer: resp.Body}
	return resp, nil
}

func (t *ariTransport) statusError(leaf *x509.Certificate) error {
	err := fmt.Errorf("renewal info for serial %x: the CA answered HTTP %d", leaf.SerialNumber, t.status)
	if t.status == http.StatusNotFound {
		err = fmt.Errorf("%w: it does not know this certificate (issued by another CA or account, or the CA lost its data)", err)
	}
	return err
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// ariUser is the lego user for ARI requests: renewalInfo is a plain GET
// (RFC 9773 section 4.1), so it needs no account, but lego wants a key.
type ariUser struct{ key crypto.PrivateKey }

func (u ariUser) GetEmail() string                        { return "" }
func (u ariUser) GetRegistration() *registration.Resource { return nil }
func (u ariUser) GetPrivateKey() crypto.PrivateKey        { return u.key }

// ariKey is a throwaway key for ariUser, made once per process. It never
// signs anything the CA sees.
var ariKey = sync.OnceValues(func() (crypto.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
})

// replaces returns the ARI CertID of previous for a new order's replaces
// field (RFC 9773 section 5), or "" when the order should not carry one:
// there is no previous certificate, it has expired, it shares no name with
// the order, or this CA does not know it. The last is asked of the CA's
// renewalInfo endpoint first, because a CA refuses an order that replaces a
// certificate it did not issue to this account, and not always with an
// error that says so (Pebble answers 500 after a restart, Let's Encrypt 404
// "malformed" after the directory changed); such an order would fail on
// every renewal. A CA without ARI answers ErrNoARI, which also means no
// replaces (RFC 9773 section 5: only to a CA that offers ARI).
//
// inWindow reports whether now is inside the renewal window the CA gave
// for previous: Let's Encrypt exempts such a replacement from its new-order
// limit, and renewd's order budget does not count it (see limiter).
func (c *Client) replaces(ctx context.Context, cert *config.Certificate, previous *x509.Certificate) (id string, inWindow bool) {
	now := time.Now()
	if previous == nil || !now.Before(previous.NotAfter) || !sharesName(previous, cert.Domains) {
		return "", false
	}
	id, err := certificate.MakeARICertID(previous)
	if err != nil {
		c.log.Debug("no ARI CertID for the previous certificate", zap.String("certificate", cert.Name), zap.Error(err))
		return "", false
	}
	info, err := c.RenewalInfo(ctx, previous)
	if err != nil {
		c.log.Debug("order without replaces", zap.String("certificate", cert.Name), zap.Error(err))
		return "", false
	}
	return id, info.Valid() && !now.Before(info.WindowStart) && !now.After(info.WindowEnd)
}

func sharesName(leaf *x509.Certificate, domains []string) bool {
	return slices.ContainsFunc(leaf.DNSNames, func(n string) bool {
		return slices.ContainsFunc(domains, func(d string) bool { return strings.EqualFold(n, d) })
	})
}

// obtainReplacing orders with req and, when the CA refused the new order
// because of its replaces field, orders once more without it: RFC 9773
// section 5 for alreadyReplaced (lego v4.34 already retries that one inside
// its newOrder; this covers the rest). A certificate already replaced, or
// one of another account (the account file was lost: lego issue #2789),
// must never block its own renewal.
func obtainReplacing(obtain func(certificate.ObtainRequest) (*certificate.Resource, error), req certificate.ObtainRequest, log *zap.Logger) (*certificate.Resource, error) {
	res, err := obtain(req)
	if err == nil || req.ReplacesCertID == "" || !refusedNewOrder(err) {
		return res, err
	}
	log.Info("the CA refused an order replacing the previous certificate; ordering without replaces",
		zap.String("replaces", req.ReplacesCertID), zap.Error(err))
	req.ReplacesCertID = ""
	return obtain(req)
}

// refusedNewOrder reports whether err is the CA refusing the newOrder
// request itself, with a client error that another order without replaces
// might not meet. lego's Certifier.Obtain returns that error as it is, and
// wraps every error of the later steps (authorizations, challenges,
// finalize), so an order that already spent a challenge is never repeated.
// Rate limits and bad nonces are not refusals of replaces. Of the server
// errors only a plain 500 counts, once: a CA that trips over the replaces
// field itself answers that (Pebble 2.10.1 does for serials whose top bit
// is set: it files them under one hex form and looks them up under
// another). 502, 503 and 504 say the CA is down or overloaded, and a
// failing CA gets one request, not two.
func refusedNewOrder(err error) bool {
	switch e := err.(type) { // not errors.As: only the unwrapped newOrder error counts; see above
	case *legoacme.AlreadyReplacedError:
		return true
	case *legoacme.ProblemDetails:
		return e.HTTPStatus >= 400 && e.HTTPStatus < 500 && e.HTTPStatus != http.StatusTooManyRequests ||
			e.HTTPStatus == http.StatusInternalServerError
	}
	return false
}
