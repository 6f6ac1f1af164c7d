package acme

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

// TestRememberMasks: the secrets of a provider (its env map, and the
// process environment's credentials by name or by the provider's prefix)
// are masked after it is built; settings such as EXEC_PATH are not.
func TestRememberMasks(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "token")
	if err := os.WriteFile(keyFile, []byte("from-a-file-Zx81\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "dns-hook.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc     string
		provider string
		vars     map[string]string
		environ  map[string]string
		in       string
		want     string
	}{
		{desc: "an env map value", provider: "exec", vars: map[string]string{"EXEC_MODE": "map-secret-1"},
			in: "exec: mode map-secret-1 refused", want: "exec: mode ******** refused"},
		{desc: "short values are left alone", provider: "exec", vars: map[string]string{"EXEC_POLLING_INTERVAL": "1"},
			environ: map[string]string{"CF_API_KEY": "abc"}, in: "exit status 1 abc", want: "exit status 1 abc"},
		{desc: "a process credential by its name", provider: "cloudflare",
			environ: map[string]string{"MYDNS_API_TOKEN": "env-token-Q7"}, in: "401: bad token env-token-Q7", want: "401: bad token ********"},
		{desc: "a process credential by the provider's prefix", provider: "alidns",
			environ: map[string]string{"ALICLOUD_RAM_ROLE": "role-secretive"}, in: "assume role-secretive failed", want: "assume ******** failed"},
		{desc: "the provider's name as prefix", provider: "tencentcloud",
			environ: map[string]string{"TENCENTCLOUD_REGION": "ap-guangzhou-9"}, in: "region ap-guangzhou-9", want: "region ********"},
		{desc: "the content of a *_FILE credential", provider: "cloudflare",
			environ: map[string]string{"CF_DNS_API_TOKEN_FILE": keyFile}, in: "token from-a-file-Zx81 invalid", want: "token ******** invalid"},
		{desc: "EXEC_PATH is not a secret", provider: "exec", vars: map[string]string{"EXEC_PATH": script},
			in: "exec: " + script + ": exit status 1", want: "exec: " + script + ": exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			for k, v := range tt.environ {
				t.Setenv(k, v)
			}
			if got := maskError(errors.New(tt.in), tt.provider, tt.vars).Error(); got != tt.want {
				t.Errorf("masked %q\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMaskErrorKeepsTypes(t *testing.T) {
	const secret = "tok-Xy93-secret"
	now := time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC)
	rl := &legoacme.RateLimitedError{
		ProblemDetails: &legoacme.ProblemDetails{HTTPStatus: 429, Type: legoacme.RateLimitedErr, Detail: "slow down, " + secret},
		RetryAfter:     "120",
	}
	sentinel := errors.New("sentinel")
	err := maskError(fmt.Errorf("order: %w (%w)", rl, sentinel), "exec", map[string]string{"EXEC_MODE": secret})
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "slow down, ********") {
		t.Errorf("Error() = %q, want the secret masked", err)
	}
	var got *legoacme.RateLimitedError
	if !errors.As(err, &got) || got != rl {
		t.Error("errors.As no longer finds the RateLimitedError")
	}
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) || pd.HTTPStatus != 429 {
		t.Error("errors.As no longer finds the ProblemDetails")
	}
	if !errors.Is(err, sentinel) {
		t.Error("errors.Is no longer finds the sentinel")
	}
	if at, ok := RetryAfter(err, now); !ok || !at.Equal(now.Add(120*time.Second)) {
		t.Errorf("RetryAfter = %s, %v; want 120s from now", at, ok)
	}
	if maskError(nil, "exec", nil) != nil {
		t.Error("maskError(nil) is not nil")
	}
}

// TestObtainMasksCAErrors goes through Obtain: a CA whose answer echoes a
// credential (from the env map and from the process environment) must not
// carry it into the error, which still gives the CA's Retry-After.
func TestObtainMasksCAErrors(t *testing.T) {
	const mapSecret, envSecret = "map-Secret-4f9a", "env-Secret-77c1"
	t.Setenv("RENEWD_TEST_DNS_API_TOKEN", envSecret)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "600")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, `{"type":"urn:ietf:params:acme:error:serverInternal","detail":"rejected %s and %s","status":503}`, mapSecret, envSecret)
	}))
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(config.ACME{Directory: srv.URL + "/dir", CACertificates: []string{caFile}}, filepath.Join(dir, "accounts"), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	cert := &config.Certificate{Name: "shop", Domains: []string{"shop.example.com"}, KeyType: "ec256",
		Challenge: config.Challenge{Type: "dns-01", DNS01: config.DNS01{Provider: "exec",
			Env: map[string]string{"EXEC_PATH": "/bin/true", "EXEC_MODE": mapSecret}}}}
	start := time.Now()
	_, err = c.Obtain(context.Background(), cert, nil)
	if err == nil {
		t.Fatal("Obtain succeeded against a CA answering 503")
	}
	if msg := err.Error(); strings.Contains(msg, mapSecret) || strings.Contains(msg, envSecret) || !strings.Contains(msg, "rejected ******** and ********") {
		t.Errorf("Obtain's error %q does not mask the secrets", msg)
	}
	if at, ok := RetryAfter(err, start); !ok || at.Before(start.Add(600*time.Second)) {
		t.Errorf("RetryAfter(%v) = %s, %v; want 600s from now", err, at, ok)
	}
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) || pd.HTTPStatus != http.StatusServiceUnavailable {
		t.Errorf("errors.As(%v) finds no 503 problem document", err)
	}
}
