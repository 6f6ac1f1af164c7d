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
	"sync"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	legolog "github.com/go-acme/lego/v4/log"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

func TestMaskSecretValues(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "token")
	if err := os.WriteFile(keyFile, []byte("from-a-file-Zx81\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc     string
		provider string
		vars     map[string]string
		environ  []string
		in       string
		want     string
	}{
		{desc: "an env map value", provider: "exec", vars: map[string]string{"EXEC_MODE": "map-secret-1"},
			in: "exec: mode map-secret-1 refused", want: "exec: mode ******** refused"},
		{desc: "short values are left alone", provider: "exec", vars: map[string]string{"EXEC_POLLING_INTERVAL": "1"},
			environ: []string{"CF_API_KEY=abc"}, in: "exit status 1 abc", want: "exit status 1 abc"},
		{desc: "a process credential by its name", provider: "cloudflare",
			environ: []string{"MYDNS_API_TOKEN=env-token-Q7"}, in: "401: bad token env-token-Q7", want: "401: bad token ********"},
		{desc: "a process credential by the provider's prefix", provider: "alidns",
			environ: []string{"ALICLOUD_RAM_ROLE=role-secretive"}, in: "assume role-secretive failed", want: "assume ******** failed"},
		{desc: "the provider's name as prefix", provider: "tencentcloud",
			environ: []string{"TENCENTCLOUD_REGION=ap-guangzhou-9"}, in: "region ap-guangzhou-9", want: "region ********"},
		{desc: "unrelated variables are left alone", provider: "alidns",
			environ: []string{"HOME=/var/lib/renewd", "LANG=en_US.UTF-8"}, in: "open /var/lib/renewd: en_US.UTF-8", want: "open /var/lib/renewd: en_US.UTF-8"},
		{desc: "the content of a *_FILE credential", provider: "cloudflare",
			environ: []string{"CF_DNS_API_TOKEN_FILE=" + keyFile}, in: "token from-a-file-Zx81 invalid", want: "token ******** invalid"},
		{desc: "quoted and URL-escaped forms", provider: "httpreq",
			vars: map[string]string{"HTTPREQ_PASSWORD": `pa"ss w/rd`},
			in:   `bad "pa\"ss w/rd" in https://u:pa%22ss%20w%2Frd@h and u:pa%22ss+w%2Frd`,
			want: `bad "********" in https://u:********@h and u:********`},
		{desc: "a value holding another is masked whole", provider: "exec",
			vars: map[string]string{"A_TOKEN": "abcdef", "B_TOKEN": "abcdef-ghijkl"}, in: "x abcdef-ghijkl y abcdef", want: "x ******** y ********"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got := maskWith(tt.in, secretValues(tt.provider, tt.vars, tt.environ))
			if got != tt.want {
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

// captureLogger is a lego StdLogger that keeps what it is given.
type captureLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *captureLogger) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}
func (l *captureLogger) Fatal(args ...any)                 { l.add(fmt.Sprint(args...)) }
func (l *captureLogger) Fatalln(args ...any)               { l.add(fmt.Sprintln(args...)) }
func (l *captureLogger) Fatalf(format string, args ...any) { l.add(fmt.Sprintf(format, args...)) }
func (l *captureLogger) Print(args ...any)                 { l.add(fmt.Sprint(args...)) }
func (l *captureLogger) Println(args ...any)               { l.add(fmt.Sprintln(args...)) }
func (l *captureLogger) Printf(format string, args ...any) { l.add(fmt.Sprintf(format, args...)) }

// TestMaskingLoggerExecOutput: lego's exec provider logs every line its
// script prints; a script printing its credentials must not put them in
// renewd's log.
func TestMaskingLoggerExecOutput(t *testing.T) {
	const mapSecret, envSecret = "map-Secret-a1b2", "env-Secret-c3d4"
	unsetEnv(t, execVars...)
	t.Setenv("RENEWD_TEST_SECRET_KEY", envSecret)
	script := filepath.Join(t.TempDir(), "dns.sh")
	body := "#!/bin/sh\necho \"token $DNS_TEST_TOKEN $RENEWD_TEST_SECRET_KEY\"\necho \"given " + mapSecret + "\" >&2\nexit 1\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	capture := &captureLogger{}
	prev := legolog.Logger
	legolog.Logger = MaskingLogger(capture)
	t.Cleanup(func() { legolog.Logger = prev })

	p, err := NewDNSProvider("exec", map[string]string{"EXEC_PATH": script, "DNS_TEST_TOKEN": mapSecret})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Present("shop.example.com", "tok", "keyauth")
	if err == nil {
		t.Fatal("Present succeeded with a script exiting 1")
	}
	capture.mu.Lock()
	out := strings.Join(capture.lines, "\n")
	capture.mu.Unlock()
	if strings.Contains(out, mapSecret) || strings.Contains(out, envSecret) {
		t.Errorf("lego's log shows a secret:\n%s", out)
	}
	if !strings.Contains(out, "given ********") || !strings.Contains(out, "token  ********") {
		t.Errorf("lego's log lacks the masked script output:\n%s", out)
	}
}
