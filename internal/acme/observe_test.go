package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/renewd/renewd/internal/config"
)

func TestClassifyEndpoint(t *testing.T) {
	tests := []struct {
		desc, url, want string
	}{
		// Pebble (wfe/wfe.go).
		{"pebble directory", "https://pebble:14000/dir", "directory"},
		{"pebble nonce", "https://pebble:14000/nonce-plz", "nonce"},
		{"pebble new account", "https://pebble:14000/sign-me-up", "account"},
		{"pebble account", "https://pebble:14000/my-account/1a2b", "account"},
		{"pebble key rollover", "https://pebble:14000/rollover-account-key", "account"},
		{"pebble new order", "https://pebble:14000/order-plz", "order"},
		{"pebble order", "https://pebble:14000/my-order/Xy_9", "order"},
		{"pebble authz", "https://pebble:14000/authZ/AbC", "authz"},
		{"pebble challenge", "https://pebble:14000/chalZ/DeF", "challenge"},
		{"pebble finalize", "https://pebble:14000/finalize-order/Xy_9", "finalize"},
		{"pebble certificate", "https://pebble:14000/certZ/5e1f", "certificate"},
		{"pebble alternate chain", "https://pebble:14000/certZ/5e1f/1", "certificate"},
		{"pebble ARI", "https://pebble:14000/draft-ietf-acme-ari-03/renewalInfo/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", "renewal-info"},
		{"pebble revoke", "https://pebble:14000/revoke-cert", "other"},
		{"pebble root", "https://pebble:14000/roots/0", "other"},
		// Let's Encrypt (Boulder).
		{"boulder directory", "https://acme-v02.api.letsencrypt.org/directory", "directory"},
		{"boulder nonce", "https://acme-v02.api.letsencrypt.org/acme/new-nonce", "nonce"},
		{"boulder new account", "https://acme-v02.api.letsencrypt.org/acme/new-acct", "account"},
		{"boulder account", "https://acme-v02.api.letsencrypt.org/acme/acct/123456789", "account"},
		{"boulder new order", "https://acme-v02.api.letsencrypt.org/acme/new-order", "order"},
		{"boulder order", "https://acme-v02.api.letsencrypt.org/acme/order/123456789/987654321", "order"},
		{"boulder authz", "https://acme-v02.api.letsencrypt.org/acme/authz/123456789/555", "authz"},
		{"boulder old authz", "https://acme-v02.api.letsencrypt.org/acme/authz-v3/555", "authz"},
		{"boulder challenge", "https://acme-v02.api.letsencrypt.org/acme/chall/123456789/555/Rg5dV14Gh1Q", "challenge"},
		{"boulder finalize", "https://acme-v02.api.letsencrypt.org/acme/finalize/123456789/987654321", "finalize"},
		{"boulder certificate", "https://acme-v02.api.letsencrypt.org/acme/cert/03a1b2c3d4e5f6", "certificate"},
		{"boulder ARI", "https://acme-v02.api.letsencrypt.org/acme/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", "renewal-info"},
		// Other CAs: the finalize URL sits below the order's.
		{"order then finalize", "https://acme.zerossl.com/v2/DV90/order/abc/finalize", "finalize"},
		{"camel-case new order", "https://acme.example/acme/newOrder", "order"},
		{"unknown", "https://acme.example/something/else", "other"},
		{"root", "https://acme.example/", "other"},
	}
	dir, _ := url.Parse("https://pebble:14000/dir")
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := classifyEndpoint(u, dir); got != tt.want {
				t.Errorf("classifyEndpoint(%s) = %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

func TestClassifyEndpointConfiguredDirectory(t *testing.T) {
	dir, _ := url.Parse("https://acme.zerossl.com/v2/DV90")
	for _, tt := range []struct{ url, want string }{
		{"https://acme.zerossl.com/v2/DV90", "directory"},
		{"https://ACME.zerossl.com/v2/DV90", "directory"},
		{"https://acme.zerossl.com/v2/DV90/newNonce", "nonce"},
		{"https://other.example/v2/DV90", "other"},
	} {
		u, _ := url.Parse(tt.url)
		if got := classifyEndpoint(u, dir); got != tt.want {
			t.Errorf("classifyEndpoint(%s) with directory %s = %q, want %q", tt.url, dir, got, tt.want)
		}
	}
}

// observations records what ObserveRequest was called with.
type observations struct {
	mu   sync.Mutex
	seen []string
}

func (o *observations) observe(method, endpoint string, code int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d < 0 {
		o.seen = append(o.seen, fmt.Sprintf("negative duration %s", d))
	}
	o.seen = append(o.seen, fmt.Sprintf("%s %s %d", method, endpoint, code))
}

func (o *observations) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := o.seen
	o.seen = nil
	return seen
}

// newPebbleLike is a CA with Pebble's paths that answers the directory,
// nonces and ARI, and refuses to look up an account.
func newPebbleLike(t *testing.T) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/dir", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"newNonce": srv.URL + "/nonce-plz", "newAccount": srv.URL + "/sign-me-up", "newOrder": srv.URL + "/order-plz",
			"renewalInfo": srv.URL + "/draft-ietf-acme-ari-03/renewalInfo",
		})
	})
	mux.HandleFunc("/nonce-plz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Replay-Nonce", "bm9uY2U")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/sign-me-up", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Replay-Nonce", "bm9uY2U")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"type":"` + accountDoesNotExist + `","detail":"no such account","status":400}`))
	})
	mux.HandleFunc("/draft-ietf-acme-ari-03/renewalInfo/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(ariJSON("2027-01-19T16:00:00Z", "2027-01-21T16:00:00Z", "")))
	})
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestObserveRequest(t *testing.T) {
	srv := newPebbleLike(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(config.ACME{Directory: srv.URL + "/dir", CACertificates: []string{caFile}}, t.TempDir(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var obs observations
	c.ObserveRequest = obs.observe

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := c.legoClient(context.Background(), &account{key: key}, &retryHint{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := obs.take(), []string{"GET directory 200"}; !slices.Equal(got, want) {
		t.Errorf("making the lego client: observed %q, want %q", got, want)
	}
	if _, err := lc.Registration.ResolveAccountByKey(); err == nil {
		t.Error("ResolveAccountByKey succeeded against a CA that knows no account")
	}
	if got, want := obs.take(), []string{"HEAD nonce 200", "POST account 400"}; !slices.Equal(got, want) {
		t.Errorf("looking up the account: observed %q, want %q", got, want)
	}

	leaf := testLeaf(t, time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC), time.Date(2027, 2, 19, 16, 0, 0, 0, time.UTC), "shop.example.com")
	if _, err := c.RenewalInfo(context.Background(), leaf); err != nil {
		t.Fatal(err)
	}
	// The directory comes from memory now (directoryCache): not asked again.
	if got, want := obs.take(), []string{"GET renewal-info 200"}; !slices.Equal(got, want) {
		t.Errorf("RenewalInfo: observed %q, want %q", got, want)
	}
}

func TestObserveRequestNoAnswer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // connections are refused from now on
	var obs observations
	c := &Client{cfg: config.ACME{Directory: srv.URL + "/dir"}, transport: &http.Transport{}, ObserveRequest: obs.observe}
	resp, err := (&http.Client{Transport: c.observed(c.transport)}).Get(srv.URL + "/dir")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a request to a closed server succeeded")
	}
	if got, want := obs.take(), []string{"GET directory 0"}; !slices.Equal(got, want) {
		t.Errorf("observed %q, want %q", got, want)
	}
}

func TestObserveRequestOff(t *testing.T) {
	c := &Client{transport: &http.Transport{}}
	if tr := c.observed(c.transport); tr != http.RoundTripper(c.transport) {
		t.Errorf("with ObserveRequest nil the transport is wrapped in %T", tr)
	}
}
