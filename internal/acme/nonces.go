package acme

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Nonces shared by every order. Each signed request to a CA spends a nonce
// (RFC 8555 section 6.5), and every answer to one carries a fresh one in
// Replay-Nonce. lego keeps that fresh nonce for the next request of the
// same lego client; renewd makes one client per order, so each order
// started by asking newNonce, and at Let's Encrypt newNonce is the
// tightest limit renewd meets (20 a second): it bounded a pass to about
// 20 new orders a second. The pool keeps the fresh nonces of every answer
// for whichever order signs next, so a busy pass asks newNonce only when
// the pool runs dry. Each nonce is handed out once. limitTransport does
// the work: it answers newNonce from the pool (see limiter.nonceOrTurn)
// and moves the Replay-Nonce of every other answer into the pool, out of
// the answer, so that lego does not keep it for its own client as well.

const (
	// maxPooledNonces bounds the pool: more than the default concurrency
	// is never used before it is stale.
	maxPooledNonces = 64
	// maxNonceAge is how long a pooled nonce is offered. A CA forgets
	// nonces after a while (a stale one costs a badNonce answer and a
	// retry); a busy pass spends them within seconds.
	maxNonceAge = 30 * time.Second
)

// noncePool holds fresh nonces, the freshest last. It is safe for
// concurrent use.
type noncePool struct {
	now func() time.Time

	mu     sync.Mutex
	nonces []pooledNonce
	added  chan struct{} // closed (and replaced) when a nonce is put
}

type pooledNonce struct {
	value string
	got   time.Time
}

// signal is closed when the next nonce is put.
func (p *noncePool) signal() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.added == nil {
		p.added = make(chan struct{})
	}
	return p.added
}

// put keeps a nonce, dropping the oldest beyond maxPooledNonces.
func (p *noncePool) put(nonce string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nonces = append(p.nonces, pooledNonce{value: nonce, got: p.now()})
	if n := len(p.nonces); n > maxPooledNonces {
		p.nonces = append(p.nonces[:0], p.nonces[n-maxPooledNonces:]...)
	}
	if p.added != nil {
		close(p.added)
		p.added = nil
	}
}

// take hands out the freshest nonce, if it is younger than maxNonceAge.
// A stale one empties the pool: the rest are older still.
func (p *noncePool) take() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.nonces) == 0 {
		return "", false
	}
	n := p.nonces[len(p.nonces)-1]
	p.nonces = p.nonces[:len(p.nonces)-1]
	if p.now().Sub(n.got) >= maxNonceAge {
		p.nonces = p.nonces[:0]
		return "", false
	}
	return n.value, true
}

// noncePools holds the process's pool per directory URL.
var noncePools = struct {
	mu    sync.Mutex
	byURL map[string]*noncePool
}{byURL: map[string]*noncePool{}}

// noncePoolFor returns the pool of directory.
func noncePoolFor(directory string) *noncePool {
	noncePools.mu.Lock()
	defer noncePools.mu.Unlock()
	p := noncePools.byURL[directory]
	if p == nil {
		p = &noncePool{now: time.Now}
		noncePools.byURL[directory] = p
	}
	return p
}

// nonceOrTurn waits for whichever comes first for a newNonce request: a
// nonce in the pool (send is false: answer the request with it), or the
// request's turn in the pace (send is true: its tokens are taken, send it
// to the CA). At the start of a busy pass every order wants a nonce at
// once; as answers come back the pool serves the ones still waiting for
// their turn, and the CA is asked far less than once per order.
func (l *limiter) nonceOrTurn(ctx context.Context, pool *noncePool) (nonce string, send bool, err error) {
	for {
		if err := l.waitPause(ctx); err != nil {
			return "", false, err
		}
		added := pool.signal() // before take: a nonce put in between wakes the sleep below
		if n, ok := pool.take(); ok {
			return n, false, nil
		}
		at, ok := l.tryReserve(ticket{endpoint: limitNewNonce}, l.clock.Now())
		if ok {
			return "", true, nil
		}
		if err := l.sleepOr(ctx, at.Sub(l.clock.Now()), added); err != nil {
			return "", false, err
		}
	}
}

// sleepOr sleeps for d, or until wake is closed or ctx ends.
func (l *limiter) sleepOr(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-wake:
			cancel()
		case <-sctx.Done():
		}
	}()
	if err := l.clock.Sleep(sctx, d); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// nonceAnswer is what the CA answers to newNonce (RFC 8555 section 7.2):
// 200 for HEAD, 204 for GET, the nonce, no caching.
func nonceAnswer(req *http.Request, nonce string) *http.Response {
	status := http.StatusOK
	if req.Method == http.MethodGet {
		status = http.StatusNoContent
	}
	h := http.Header{}
	h.Set("Replay-Nonce", nonce)
	h.Set("Cache-Control", "no-store")
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: http.NoBody, Request: req,
	}
}
