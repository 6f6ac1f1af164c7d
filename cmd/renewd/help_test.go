package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

// oneDash finds a long flag listed with one dash (Go's -flag style).
var oneDash = regexp.MustCompile(`\n  -[a-z]{2}`)

// runCLI runs the command line in-process and returns its exit code,
// stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelpEverywhere: every command answers --help (and -h, and
// `renewd help COMMAND`) on stdout with exit 0 and a usage line naming it;
// its flags are listed GNU style.
func TestHelpEverywhere(t *testing.T) {
	for _, c := range commands {
		argv := strings.Fields(c.name)
		for _, form := range [][]string{append(argv, "--help"), append(argv, "-h"), append([]string{"help"}, argv...)} {
			t.Run(strings.Join(form, " "), func(t *testing.T) {
				code, out, errOut := runCLI(t, append([]string{"--config", "/nonexistent/renewd.yaml"}, form...)...)
				if code != exitOK || errOut != "" {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				if want := "usage: renewd [--config PATH] [--log-level LEVEL] " + c.name; !strings.HasPrefix(out, want) {
					t.Errorf("stdout starts %q, want %q", firstLine(out), want)
				}
				if oneDash.MatchString(out) {
					t.Errorf("a flag is listed with one dash:\n%s", out)
				}
			})
		}
	}
	code, out, _ := runCLI(t, "renew", "--help")
	if code != 0 || !strings.Contains(out, "  --wait DURATION") || !strings.Contains(out, "(default 5m0s)") {
		t.Errorf("renew --help lacks its flags:\n%s", out)
	}
}

func TestUsageMistakes(t *testing.T) {
	tests := []struct {
		desc   string
		args   []string
		stderr []string
	}{
		{desc: "unknown flag of a command", args: []string{"renew", "--sooner"},
			stderr: []string{"flag provided but not defined: --sooner", "usage: renewd [--config PATH] [--log-level LEVEL] renew"}},
		{desc: "bad --log-level for status, which logs nothing", args: []string{"--log-level", "loud", "status"},
			stderr: []string{`--log-level "loud": use debug, info, warn or error`}},
		{desc: "bad --log-level for version", args: []string{"--log-level", "verbose", "version"}, stderr: []string{"--log-level"}},
		{desc: "unknown command", args: []string{"renw"}, stderr: []string{`unknown command "renw"`}},
		{desc: "config without check", args: []string{"config"}, stderr: []string{"usage: renewd [--config PATH] [--log-level LEVEL] config check"}},
		{desc: "add without a challenge", args: []string{"add", "shop", "-d", "shop.example.com"}, stderr: []string{"one of --webroot, --listen or --dns"}},
		{desc: "revoke with a bad reason", args: []string{"revoke", "shop", "--reason", "because"}, stderr: []string{`--reason "because"`, "keyCompromise"}},
		{desc: "unknown provider", args: []string{"providers", "clodflare"}, stderr: []string{"did you mean cloudflare?"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"--config", "/nonexistent/renewd.yaml"}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stdout %q", code, exitUsage, out)
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestProviders(t *testing.T) {
	code, out, _ := runCLI(t, "providers")
	if code != 0 || !strings.Contains(out, "alidns") || !strings.Contains(out, "cloudflare") || strings.Count(out, "\n") < 150 {
		t.Errorf("renewd providers: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "providers", "alidns")
	for _, w := range []string{"alidns: Alibaba Cloud DNS", "https://go-acme.github.io/lego/dns/alidns/", "ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY",
		`ALICLOUD_ACCESS_KEY: "${ALICLOUD_ACCESS_KEY}"`, "/etc/renewd/env"} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("renewd providers alidns lacks %q:\n%s", w, out)
		}
	}
}

// TestServingMetricsLoggedOnce: starting the daemon's metrics says so
// once.
func TestServingMetricsLoggedOnce(t *testing.T) {
	core, logs := zapobserver.New(zapcore.InfoLevel)
	st, err := store.OpenReadOnly(filepath.Join(t.TempDir(), "storage"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := &config.Config{Metrics: config.Metrics{Listen: "127.0.0.1:0"}}
	if _, err := startMetrics(ctx, cfg, st, zap.New(core)); err != nil {
		t.Fatal(err)
	}
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" && time.Now().Before(deadline) { // the server goroutine's first line
		for _, e := range logs.FilterMessage("serving metrics").All() {
			addr, _ = e.ContextMap()["address"].(string)
		}
		if addr == "" {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if addr == "" {
		t.Fatal("never said it serves metrics")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := logs.FilterMessage("serving metrics").Len(); n != 1 {
		t.Errorf(`"serving metrics" logged %d times, want once`, n)
	}
}
