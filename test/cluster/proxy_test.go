package cluster

// A cut-down copy of test/e2e's caProxy: it only counts.

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/testpki"
)

// caProxy sits between a scenario's nodes and the shared Pebble and counts
// what a CA's limits count: the orders Pebble created (201 answers to
// newOrder; a POST lego repeats after a bad nonce counts once), and the
// serials of the certificates it handed out. Pebble builds its URLs from
// the request's Host, so keeping Host keeps the whole conversation here.
type caProxy struct {
	dirURL string

	mu      sync.Mutex
	created int
	serials []string // of the certificates downloaded, in order
}

func startCAProxy(t *testing.T) *caProxy {
	t.Helper()
	target, err := url.Parse(env.pebble.dirURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &caProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
			pr.Out.Host = pr.In.Host
		},
		Transport:      &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testpki.Pool(env.tls.root)}},
		ModifyResponse: p.modify,
	}
	certFile, keyFile, err := env.tls.issueServer(filepath.Join(t.TempDir(), "proxy"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go func() { _ = srv.ServeTLS(l, certFile, keyFile) }()
	t.Cleanup(func() { _ = srv.Close() })
	p.dirURL = fmt.Sprintf("https://%s/dir", l.Addr())
	return p
}

func (p *caProxy) modify(resp *http.Response) error {
	path := resp.Request.URL.Path
	switch {
	case resp.StatusCode == http.StatusCreated && strings.HasPrefix(path, "/order-plz"):
		p.mu.Lock()
		p.created++
		p.mu.Unlock()
	case resp.StatusCode == http.StatusOK && strings.HasPrefix(path, "/certZ/"):
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		if certs, err := chain.ParsePEM(body); err == nil && len(certs) > 0 {
			p.mu.Lock()
			p.serials = append(p.serials, fmt.Sprintf("%x", certs[0].SerialNumber))
			p.mu.Unlock()
		}
	}
	return nil
}

// orders is how many orders Pebble created through this proxy.
func (p *caProxy) orders() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.created
}

// issued lists the serials of the certificates Pebble handed out (a
// download fetched again counts again).
func (p *caProxy) issued() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.serials...)
}
