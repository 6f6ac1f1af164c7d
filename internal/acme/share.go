package acme

import (
	"context"
	"fmt"

	"github.com/go-acme/lego/v4/challenge"

	"github.com/renewd/renewd/internal/crashpoint"
)

// TokenShare hands the HTTP-01 tokens of an order to the other nodes of a
// cluster, so that whichever node the CA (or a load balancer) reaches can
// answer. The cluster package implements it.
type TokenShare interface {
	// Publish makes token answerable with keyAuth on every live node for
	// certificate cert, and returns only once each of them can answer it
	// (or with an error saying which cannot: the CA is then not asked to
	// validate, which would spend a failed validation).
	Publish(ctx context.Context, cert, token, keyAuth string) error
	// Withdraw takes the token back from every node.
	Withdraw(cert, token string)
}

// WithTokenShare makes every HTTP-01 order publish its tokens through s
// before the CA validates them.
func WithTokenShare(s TokenShare) Option { return func(c *Client) { c.share = s } }

// WithResponder makes the client answer HTTP-01 through r instead of a
// responder of its own: a cluster node answers the tokens other nodes
// publish from the same listeners its own orders use.
func WithResponder(r *Responder) Option { return func(c *Client) { c.responder = r } }

// sharedProvider publishes each token after the local provider has it.
type sharedProvider struct {
	challenge.Provider
	ctx   context.Context // the order's
	share TokenShare
	cert  string
}

func (p *sharedProvider) Present(domain, token, keyAuth string) error {
	if err := p.Provider.Present(domain, token, keyAuth); err != nil {
		return err
	}
	if err := p.share.Publish(p.ctx, p.cert, token, keyAuth); err != nil {
		_ = p.Provider.CleanUp(domain, token, keyAuth)
		return fmt.Errorf("http-01: share the token with the cluster: %w", err)
	}
	// Every live node answers the token now: the cluster's challenge is
	// set up. A leader killed here leaves the token in etcd, bound to its
	// lease (the listen provider itself leaves nothing outside renewd, so
	// only the shared one has this crash point).
	presented()
	return nil
}

func (p *sharedProvider) CleanUp(domain, token, keyAuth string) error {
	// lego cleans up once the CA answered the challenge: in an order that
	// goes on, the CA found it valid and the order is not finalized yet.
	// A leader killed here leaves a validated authorization at the CA,
	// nothing issued, and its token in etcd, bound to its lease.
	crashpoint.Hit("acme-validated")
	p.share.Withdraw(p.cert, token)
	return p.Provider.CleanUp(domain, token, keyAuth)
}

// Serve answers token with keyAuth on addr, opening a listener there if
// none is open: how a cluster node answers a token another node's order
// published. Each Serve is undone by one Forget.
func (r *Responder) Serve(addr, token, keyAuth string) error { return r.present(addr, token, keyAuth) }

// Forget undoes one Serve.
func (r *Responder) Forget(addr, token string) error { return r.cleanUp(addr, token) }

// WebrootToken writes token's key authorization below the webroot dir, as
// the webroot provider does for an order: for a cluster node serving a
// token another node published.
func WebrootToken(dir, token, keyAuth string) error {
	return (&webrootProvider{dir: dir}).Present("", token, keyAuth)
}

// RemoveWebrootToken removes what WebrootToken wrote.
func RemoveWebrootToken(dir, token string) error {
	return (&webrootProvider{dir: dir}).CleanUp("", token, "")
}
