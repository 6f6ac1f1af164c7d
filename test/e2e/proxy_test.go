package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// proxyMode says how caProxy rewrites Pebble's answers.
type proxyMode int32

const (
	passThrough proxyMode = iota
	// leafOnly cuts the certificate download to its first PEM block: the
	// BaoTa-style "cert without root" answer renewd must never store.
	leafOnly
)

// caProxy sits in front of Pebble and makes the faults Pebble cannot.
// Pebble builds every URL from the request's Host, so keeping the client's
// Host is all it takes for the whole ACME conversation to go through here.
type caProxy struct {
	dirURL string
	mode   atomic.Int32
	certs  atomic.Int32 // certificate downloads seen
}

func startProxy(t *testing.T, pb *pebble) *caProxy {
	t.Helper()
	target, err := url.Parse(pb.dirURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &caProxy{}
	pool := x509.NewCertPool()
	pool.AddCert(env.tls.cert)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
			pr.Out.Host = pr.In.Host
		},
		Transport:      &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		ModifyResponse: p.modify,
	}
	certFile, keyFile, err := env.tls.issueServer(t.TempDir())
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

func (p *caProxy) setMode(m proxyMode) { p.mode.Store(int32(m)) }

func (p *caProxy) modify(resp *http.Response) error {
	if !strings.HasPrefix(resp.Request.URL.Path, "/certZ/") || resp.StatusCode != http.StatusOK {
		return nil
	}
	p.certs.Add(1)
	if proxyMode(p.mode.Load()) != leafOnly {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	resp.Body.Close()
	block, _ := pem.Decode(body)
	if block == nil {
		return fmt.Errorf("proxy: certificate answer is not PEM")
	}
	leaf := pem.EncodeToMemory(block)
	resp.Body = io.NopCloser(bytes.NewReader(leaf))
	resp.ContentLength = int64(len(leaf))
	resp.Header.Set("Content-Length", strconv.Itoa(len(leaf)))
	resp.Header.Del("Link") // no alternate chains to fall back to
	return nil
}
