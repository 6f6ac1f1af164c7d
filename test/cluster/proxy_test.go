package cluster

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/test/harness"
)

// caProxy is the harness's proxy between a scenario's nodes and the shared
// Pebble: it counts what a CA's limits count, the orders Pebble created
// (201 answers to newOrder; a POST lego repeats after a bad nonce counts
// once), and here also the serials of the certificates it handed out.
type caProxy struct {
	*harness.Proxy

	mu      sync.Mutex
	serials []string // of the certificates downloaded, in order
}

func startCAProxy(t *testing.T) *caProxy {
	t.Helper()
	p := &caProxy{}
	p.Proxy = harness.StartProxy(t, env.pebble, harness.ProxyOptions{TLS: env.tls, Modify: p.modify})
	return p
}

func (p *caProxy) modify(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, harness.PebbleCert) {
		return nil
	}
	body, err := harness.ReplaceBody(resp, nil)
	if err != nil {
		return err
	}
	if certs, err := chain.ParsePEM(body); err == nil && len(certs) > 0 {
		p.mu.Lock()
		p.serials = append(p.serials, fmt.Sprintf("%x", certs[0].SerialNumber))
		p.mu.Unlock()
	}
	return nil
}

// orders is how many orders Pebble created through this proxy.
func (p *caProxy) orders() int { return p.Stats().Orders }

// issued lists the serials of the certificates Pebble handed out (a
// download fetched again counts again).
func (p *caProxy) issued() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.serials...)
}
