package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
)

// Tokens is the leader's acme.TokenShare: a token goes into etcd bound to
// the leader's lease (it disappears with a dead leader), every node's agent
// serves it and acknowledges, and Publish returns once every live node
// has. The CA is told to validate only then, whichever node it reaches.
type Tokens struct {
	Node    *Node
	Cli     *clientv3.Client
	Prefix  string
	Timeout time.Duration // for the acknowledgements (default 30s)
	Log     *zap.Logger
}

var _ acme.TokenShare = (*Tokens)(nil)

// Publish implements acme.TokenShare.
func (t *Tokens) Publish(ctx context.Context, cert, token, keyAuth string) error {
	k := keys{t.Prefix}
	sess, _ := t.Node.Session()
	if sess == nil {
		return errors.New("no etcd session: the cluster cannot share the token")
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Look again when a node acknowledges, and when the nodes change: one
	// that leaves (its lease ends) is no longer waited for.
	watchAcks := func() clientv3.WatchChan {
		return t.Cli.Watch(clientv3.WithRequireLeader(ctx), k.acks(token), clientv3.WithPrefix())
	}
	watchNodes := func() clientv3.WatchChan {
		return t.Cli.Watch(clientv3.WithRequireLeader(ctx), k.nodes(), clientv3.WithPrefix(), clientv3.WithFilterPut())
	}
	wch, nch := watchAcks(), watchNodes()
	if _, err := t.Cli.Put(ctx, k.token(cert, token), keyAuth, clientv3.WithLease(sess.Lease())); err != nil {
		return fmt.Errorf("etcd: publish the token: %w", err)
	}
	for {
		missing, err := t.missing(ctx, k, token)
		if err == nil && len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node(s) %s did not confirm they can answer the HTTP-01 token within %s; not asking the CA to validate (is their renewd running, is %s in their domains.d?)",
				strings.Join(missing, ", "), timeout, cert)
		case _, ok := <-wch:
			if !ok {
				wch = watchAcks()
			}
		case _, ok := <-nch:
			if !ok {
				nch = watchNodes()
			}
		}
	}
}

// missing lists the live nodes that have not acknowledged token.
func (t *Tokens) missing(ctx context.Context, k keys, token string) ([]string, error) {
	alive, err := Alive(ctx, t.Cli, t.Prefix)
	if err != nil {
		return nil, err
	}
	resp, err := t.Cli.Get(ctx, k.acks(token), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	acked := map[string]bool{}
	for _, kv := range resp.Kvs {
		acked[strings.TrimPrefix(string(kv.Key), k.acks(token))] = true
	}
	var out []string
	for _, n := range alive {
		if !acked[n] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Withdraw implements acme.TokenShare.
func (t *Tokens) Withdraw(cert, token string) {
	k := keys{t.Prefix}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := t.Cli.Delete(ctx, k.token(cert, token)); err != nil {
		t.Log.Warn("token left in etcd; it goes with the leader's lease", zap.Error(err))
	}
	_, _ = t.Cli.Delete(ctx, k.acks(token), clientv3.WithPrefix())
}

// syncTokens serves the tokens present now and forgets the ones this node
// served that are gone. It returns the tokens it could not serve or
// acknowledge (key -> key authorization), to try again.
func (a *Agent) syncTokens(ctx context.Context, kvs []*mvccpb.KeyValue) map[string]string {
	present, failed := map[string]bool{}, map[string]string{}
	for _, kv := range kvs {
		present[string(kv.Key)] = true
		if !a.serveToken(ctx, string(kv.Key), string(kv.Value)) {
			failed[string(kv.Key)] = string(kv.Value)
		}
	}
	a.mu.Lock()
	var gone []string
	for key := range a.tokens {
		if !present[key] {
			gone = append(gone, key)
		}
	}
	a.mu.Unlock()
	for _, key := range gone {
		a.forgetToken(ctx, key)
	}
	return failed
}

// serveToken answers a published token as the certificate's challenge
// says (renewd's responder, or a file in the webroot) and acknowledges it
// under this node's lease. It returns false when it could not do either
// and trying again may help (the listener's port was taken, etcd refused
// the acknowledgement, the node has no session for now): the leader waits
// for the acknowledgement, and nothing else brings the token back while
// the watch goes on.
func (a *Agent) serveToken(ctx context.Context, key, keyAuth string) bool {
	cert, token, ok := strings.Cut(strings.TrimPrefix(key, a.k.tokens()), "/")
	c := a.config().cfg.Certificate(cert)
	if !ok || c == nil || c.Challenge.Type != "http-01" {
		a.Log.Warn("a published token for a certificate this node does not answer HTTP-01 for", zap.String("certificate", cert))
		return true // nothing to try again: the leader names this node
	}
	a.mu.Lock()
	_, done := a.tokens[key]
	a.mu.Unlock()
	if !done {
		st := servedToken{token: token}
		var err error
		if w := c.Challenge.HTTP01.Webroot; w != "" {
			st.webroot, err = w, acme.WebrootToken(w, token, keyAuth)
		} else {
			st.addr, err = c.Challenge.HTTP01.Listen, a.Responder.Serve(c.Challenge.HTTP01.Listen, token, keyAuth)
		}
		if err != nil {
			a.Log.Warn("cannot answer a published token; trying again shortly", zap.String("certificate", cert), zap.Error(err))
			return false
		}
		a.mu.Lock()
		a.tokens[key] = st
		a.mu.Unlock()
	}
	sess, _ := a.Node.Session()
	if sess == nil {
		return false
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := a.Cli.Put(actx, a.k.ack(token, a.Node.Name), "", clientv3.WithLease(sess.Lease())); err != nil {
		if ctx.Err() == nil {
			a.Log.Warn("cannot acknowledge a token; trying again shortly", zap.String("certificate", cert), zap.Error(err))
		}
		return false
	}
	return true
}

// forgetToken stops answering a withdrawn token and takes back this
// node's acknowledgement: the leader's Withdraw deletes them all, but a
// token that went with a dead leader's lease was never withdrawn, and the
// acknowledgement, bound to this node's lease, would stay as long as the
// node runs.
func (a *Agent) forgetToken(ctx context.Context, key string) {
	a.mu.Lock()
	st, ok := a.tokens[key]
	delete(a.tokens, key)
	a.mu.Unlock()
	if !ok {
		return
	}
	if st.webroot != "" {
		_ = acme.RemoveWebrootToken(st.webroot, st.token)
	} else {
		_ = a.Responder.Forget(st.addr, st.token)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _ = a.Cli.Delete(dctx, a.k.ack(st.token, a.Node.Name))
}
