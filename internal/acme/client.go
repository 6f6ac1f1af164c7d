// Package acme orders certificates through lego: one account per CA
// directory, HTTP-01 (webroot or renewd's own shared responder) and DNS-01
// through any lego DNS provider. It returns what the CA issued; deciding
// whether that chain is complete is the chain package's job.
package acme

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/lego"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/config"
)

// Client orders certificates from one CA with one account. It is safe for
// concurrent use: each order gets its own lego client (lego binds challenge
// solvers to a client), and all of them share the account, the transport and
// the HTTP-01 responder.
type Client struct {
	// ObserveRequest, when set, is called after every HTTP request to the
	// CA (orders and ARI alike) with its method, an endpoint naming what
	// was asked for, the HTTP status (0 when no answer came) and how long
	// the answer's headers took. The endpoint is one of "directory",
	// "nonce", "account", "order", "authz", "challenge", "finalize",
	// "certificate", "renewal-info" or "other", whatever the CA's URLs
	// look like, so it suits a metric label. It is called from concurrent
	// orders at once and should return quickly. Set it with WithObserver
	// (or before the first Obtain or RenewalInfo) and leave it; nil
	// observes nothing.
	ObserveRequest func(method, endpoint string, code int, d time.Duration)

	cfg         config.ACME
	accountsDir string
	log         *zap.Logger
	transport   *http.Transport
	responder   *Responder
	share       TokenShare      // nil: no cluster
	limiter     *limiter        // shared with every Client for cfg.Directory
	directory   *directoryCache // likewise
	nonces      *noncePool      // likewise

	mu  sync.Mutex
	acc *account
}

// Issued is what the CA returned for one order.
type Issued struct {
	// Certs is the CA's answer: leaf first, then whatever issuers it sent.
	Certs  []*x509.Certificate
	Key    crypto.Signer
	KeyPEM []byte
	// CertURL is the certificate's URL at the CA.
	CertURL string
}

// Option configures a Client at construction.
type Option func(*Client)

// WithObserver sets ObserveRequest; nil observes nothing.
func WithObserver(f func(method, endpoint string, code int, d time.Duration)) Option {
	return func(c *Client) { c.ObserveRequest = f }
}

// New returns a Client for cfg. Accounts are kept under accountsDir.
func New(cfg config.ACME, accountsDir string, log *zap.Logger, opts ...Option) (*Client, error) {
	tr, err := newTransport(cfg.CACertificates)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, accountsDir: accountsDir, log: log, transport: tr,
		limiter: limiterFor(cfg.Directory, cfg.RateLimit, log.Named("limit")), directory: directoryCacheFor(cfg.Directory),
		nonces: noncePoolFor(cfg.Directory)}
	for _, o := range opts {
		o(c)
	}
	if c.responder == nil {
		c.responder = NewResponder(log.Named("http01"))
	}
	return c, nil
}

// caTransport carries every request to the CA, orders and ARI alike: the
// directory from memory when it is fresh, nonces from the shared pool,
// then the shared limiter, then ObserveRequest, then the network.
func (c *Client) caTransport() http.RoundTripper {
	return cachedTransport{base: limitTransport{base: c.observed(c.transport), limiter: c.limiter, nonces: c.nonces}, cache: c.directory}
}

// keyTypes maps renewd's key_type names to lego's.
var keyTypes = map[string]certcrypto.KeyType{
	"ec256": certcrypto.EC256, "ec384": certcrypto.EC384,
	"rsa2048": certcrypto.RSA2048, "rsa3072": certcrypto.RSA3072, "rsa4096": certcrypto.RSA4096,
}

// legoClient returns a lego client whose requests carry ctx and report the
// CA's Retry-After to hint.
func (c *Client) legoClient(ctx context.Context, acc *account, hint *retryHint) (*lego.Client, error) {
	lc := lego.NewConfig(acc)
	lc.CADirURL = c.cfg.Directory
	lc.UserAgent = "renewd"
	tr := hintTransport{base: c.caTransport(), hint: hint, now: time.Now}
	lc.HTTPClient = &http.Client{Transport: ctxTransport{ctx: ctx, base: pendingErrors{next: tr}}, Timeout: 2 * time.Minute}
	lc.Certificate.Timeout = 90 * time.Second
	client, err := lego.NewClient(lc)
	if err != nil {
		return nil, fmt.Errorf("reach CA %s: %w", c.cfg.Directory, err)
	}
	return client, nil
}

// account returns the registered account, loading or registering it once
// per process. Registration is serialised so concurrent orders do not each
// create an account.
func (c *Client) account(ctx context.Context, hint *retryHint) (*account, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acc != nil {
		return c.acc, nil
	}
	acc, err := loadOrCreateAccount(c.accountsDir, c.cfg.Directory, c.cfg.Email)
	if err != nil {
		return nil, err
	}
	if acc.Registration == nil || acc.Registration.URI == "" {
		client, err := c.legoClient(ctx, acc, hint)
		if err != nil {
			return nil, err
		}
		if err := register(client, acc, c.cfg.EAB.KID, c.cfg.EAB.HMACKey); err != nil {
			return nil, err
		}
		if err := saveAccount(c.accountsDir, acc); err != nil {
			return nil, err
		}
		c.log.Info("ACME account ready", zap.String("directory", c.cfg.Directory), zap.String("account", acc.Registration.URI))
	}
	c.acc = acc
	return acc, nil
}

// Obtain orders a new certificate for cert with a fresh private key. When
// the CA answered 429 or 503 with a Retry-After on the way, the error
// carries it for RetryAfter.
//
// previous is the certificate the new one replaces, nil for a first
// issuance. When the CA offers ARI and knows previous, the order names it in
// its replaces field (RFC 9773 section 5); if the CA refuses the order for
// that, it is placed once more without (see obtainReplacing).
//
// The error's text has cert's DNS-01 secrets masked (the env map's values
// and the provider's credentials in the process environment, see
// remember), and every other secret renewd knows of: a provider's error
// may quote them, and the error goes to
// logs, the records and notifications. It still unwraps to lego's errors.
// Summary gives its cause on one line, masked alike.
//
// When the CA answers that it does not know the stored account
// (accountDoesNotExist: a test CA that was reset, an account the CA
// removed), a new account is registered, with a new key, and the order is
// placed once more.
func (c *Client) Obtain(ctx context.Context, cert *config.Certificate, previous *x509.Certificate) (*Issued, error) {
	hint := &retryHint{}
	acc, err := c.account(ctx, hint)
	var issued *Issued
	if err == nil {
		issued, err = c.obtain(ctx, acc, cert, previous, hint)
	}
	if err != nil && c.accountGone(err, acc) {
		if acc, err = c.account(ctx, hint); err == nil {
			issued, err = c.obtain(ctx, acc, cert, previous, hint)
		}
	}
	if err != nil {
		masked := maskError(hint.wrap(err), cert.Challenge.DNS01.Provider, cert.Challenge.DNS01.Env)
		return nil, explain(masked, cert, func(s string) string {
			return maskError(errors.New(s), cert.Challenge.DNS01.Provider, cert.Challenge.DNS01.Env).Error()
		})
	}
	return issued, nil
}

// accountGone reports whether err is the CA saying it does not know acc,
// the account an order used; if so it replaces the account (see Obtain)
// so that the next order registers a new one. Concurrent orders that all
// failed with acc replace it once.
func (c *Client) accountGone(err error, acc *account) bool {
	var pd *legoacme.ProblemDetails
	if acc == nil || !errors.As(err, &pd) || pd.Type != accountDoesNotExist {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acc != acc {
		return true // another order replaced it already
	}
	old := ""
	if acc.Registration != nil {
		old = acc.Registration.URI
	}
	if rerr := replaceAccountKey(c.accountsDir, c.cfg.Directory); rerr != nil {
		c.log.Warn("the CA no longer knows the stored ACME account, and a new account key could not be written", zap.Error(rerr))
		return false
	}
	c.acc = nil
	c.log.Warn("the CA no longer knows the stored ACME account; registering a new one and placing the order again",
		zap.String("directory", c.cfg.Directory), zap.String("old_account", old))
	return true
}

func (c *Client) obtain(ctx context.Context, acc *account, cert *config.Certificate, previous *x509.Certificate, hint *retryHint) (*Issued, error) {
	replaces, inWindow := c.replaces(ctx, cert, previous)
	if inWindow {
		ctx = withExemptOrder(ctx, replaces)
	}
	client, err := c.legoClient(ctx, acc, hint)
	if err != nil {
		return nil, err
	}
	journal := newPending(accountDir(c.accountsDir, c.cfg.Directory), cert.Name)
	c.cleanLeftovers(journal, cert)
	if err := c.setSolver(ctx, client, cert, journal); err != nil {
		return nil, err
	}
	kt, ok := keyTypes[cert.KeyType]
	if !ok {
		return nil, fmt.Errorf("key_type %q is not supported", cert.KeyType)
	}
	priv, err := certcrypto.GeneratePrivateKey(kt)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, errors.New("generated key is not a signer")
	}
	res, err := c.orderPaced(ctx, client, certificate.ObtainRequest{
		Domains:        cert.Domains,
		PrivateKey:     priv,
		Bundle:         true,
		Profile:        c.cfg.Profile,
		PreferredChain: c.cfg.PreferredChain,
		ReplacesCertID: replaces,
	})
	if err != nil {
		if ctx.Err() != nil && !caAnswered(err) {
			// Stopped by the cancellation (a shutdown, the order's
			// deadline): say so, and let callers see the context's error.
			return nil, fmt.Errorf("order: %w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("order: %w", err)
	}
	certs, err := chain.ParsePEM(res.Certificate)
	if err != nil {
		return nil, fmt.Errorf("the CA's certificate answer: %w", err)
	}
	return &Issued{Certs: certs, Key: signer, KeyPEM: certcrypto.PEMEncode(priv), CertURL: res.CertURL}, nil
}

// orderPaced places the order (see obtainReplacing). When the CA refused
// the new order itself with a 429, or a 503 with Retry-After, the shared
// limiter pauses every request to the CA; if that pause ends in time (see
// limiter.wait), the order is placed again and waits for it, up to
// maxPausedRetries times. A refused new order created nothing at the CA,
// so nothing is spent twice; an order that failed at a later step is never
// placed again here.
func (c *Client) orderPaced(ctx context.Context, client *lego.Client, req certificate.ObtainRequest) (*certificate.Resource, error) {
	for attempt := 0; ; attempt++ {
		res, err := obtainReplacing(client.Certificate.Obtain, req, c.log)
		if err == nil || attempt == maxPausedRetries || !refusedWithPause(err) || !c.limiter.resumesWithin(ctx) {
			return res, err
		}
		c.log.Info("the CA refused a new order and asked to wait; ordering again after the pause",
			zap.Strings("domains", req.Domains), zap.Error(err))
	}
}

// refusedWithPause reports whether err is the CA refusing a new order with
// 429 Too Many Requests or 503 Service Unavailable. Like refusedNewOrder it
// looks at the error lego returns for the newOrder request itself, never
// at the wrapped errors of later steps.
func refusedWithPause(err error) bool {
	switch e := err.(type) { // not errors.As: see refusedNewOrder
	case *legoacme.RateLimitedError:
		return true
	case *legoacme.ProblemDetails:
		return e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus == http.StatusServiceUnavailable
	}
	return false
}

// setSolver sets cert's challenge solver on client; the solvers that
// leave something outside renewd (a token file, a TXT record) record it
// in journal until it is cleaned up. ctx is the order's: a DNS-01
// propagation wait ends when it does (see dnsOptions).
func (c *Client) setSolver(ctx context.Context, client *lego.Client, cert *config.Certificate, journal *pending) error {
	switch ch := cert.Challenge; ch.Type {
	case "http-01":
		var p challenge.Provider = c.responder.Provider(ch.HTTP01.Listen)
		if ch.HTTP01.Webroot != "" {
			p = &webrootProvider{dir: ch.HTTP01.Webroot, journal: journal}
		}
		if c.share != nil {
			p = &sharedProvider{Provider: p, ctx: ctx, share: c.share, cert: cert.Name}
		}
		return client.Challenge.SetHTTP01Provider(p)
	case "dns-01":
		p, err := NewDNSProvider(ch.DNS01.Provider, ch.DNS01.Env)
		if err != nil {
			return fmt.Errorf("dns-01: %w", err)
		}
		return client.Challenge.SetDNS01Provider(wrapDNSProvider(p, ch.DNS01, journal), dnsOptions(ctx, ch.DNS01)...)
	default:
		return fmt.Errorf("%w for challenge type %q", errNoSolver, ch.Type)
	}
}

// caAnswered reports whether err carries the CA's own answer (an ACME
// problem document, a rate limit): such a failure is real even when it
// arrives while renewd is stopping, and is recorded with its backoff.
func caAnswered(err error) bool {
	var pd *legoacme.ProblemDetails
	var rl *legoacme.RateLimitedError
	return errors.As(err, &pd) || errors.As(err, &rl)
}

// Revoke asks the CA to revoke the certificate certPEM (its leaf first)
// for reason, an RFC 5280 CRLReason code, with the account renewd orders
// with.
func (c *Client) Revoke(ctx context.Context, certPEM []byte, reason uint) error {
	hint := &retryHint{}
	acc, err := c.account(ctx, hint)
	if err != nil {
		return err
	}
	client, err := c.legoClient(ctx, acc, hint)
	if err != nil {
		return err
	}
	if err := client.Certificate.RevokeWithReason(certPEM, &reason); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return nil
}
