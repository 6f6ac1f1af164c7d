package acme

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

func TestCtxTransportCancelledNeverReachesServer(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	client := &http.Client{Transport: ctxTransport{ctx: ctx, base: srv.Client().Transport}}
	resp, err := client.Get(srv.URL + "/directory")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a request with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server saw %d requests", n)
	}
}

func TestCtxTransportCancelInFlight(t *testing.T) {
	entered := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // the client going away ends the request
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Transport: ctxTransport{ctx: ctx, base: srv.Client().Transport}}
	errc := make(chan error, 1)
	go func() {
		// lego builds requests without a context; the transport adds it.
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/slow", nil)
		if err != nil {
			errc <- err
			return
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("in-flight request after cancel: %v, want context.Canceled", err)
	}
}

func TestCtxTransportLiveContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	client := &http.Client{Transport: ctxTransport{ctx: context.Background(), base: srv.Client().Transport}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); string(body) != "ok" {
		t.Errorf("body %q", body)
	}
}

func TestNewTransportCACertificates(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "dir") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted attempt's handshake error
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "pebble.minica.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	// Without the CA file the test server's certificate is not trusted.
	plain, err := newTransport(nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := (&http.Client{Transport: plain}).Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("the test server was trusted without acme.ca_certificates")
	}

	tr, err := newTransport([]string{caFile})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatalf("with acme.ca_certificates: %v", err)
	}
	resp.Body.Close()

	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.pem"), "acme.ca_certificates"},
		{notPEM, notPEM + " holds no PEM certificate"},
	} {
		if _, err := newTransport([]string{tt.file}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("newTransport(%s) = %v, want an error with %q", tt.file, err, tt.want)
		}
	}
	if _, err := New(config.ACME{CACertificates: []string{notPEM}}, dir, zap.NewNop()); err == nil {
		t.Error("New accepted a CA file without a certificate")
	}
}
