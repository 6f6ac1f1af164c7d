package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/secret"
)

// TestLoggerMasksSecrets: a registered secret and a credential of the
// process environment never reach the log, at any level, in a message, a
// string field, an error field, a reflected value or a With field, in
// JSON and console lines alike.
func TestLoggerMasksSecrets(t *testing.T) {
	const registered, fromEnv = "cfg-secret-3b8e\"q", "env-secret-77aa"
	secret.Add(registered)
	for _, console := range []bool{false, true} {
		var out bytes.Buffer
		log, err := newLoggerTo(&out, console, "debug", "info")
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("RENEWD_LOG_TEST_TOKEN", fromEnv)
		secret.Add(secret.EnvironSecrets([]string{"RENEWD_LOG_TEST_TOKEN=" + fromEnv}, nil)...)
		log = log.With(zap.String("with", registered))
		log.Debug("debug "+registered, zap.Error(errors.New("hook printed "+fromEnv)))
		log.Info("info", zap.String("output", "line1\n"+registered+"\nline3"))
		log.Warn("warn", zap.Any("map", map[string]string{"k": fromEnv}))
		log.Error("error", zap.Strings("argv", []string{"curl", "-H", "X-Token: " + fromEnv}))
		got := out.String()
		if strings.Contains(got, "cfg-secret-3b8e") || strings.Contains(got, fromEnv) {
			t.Errorf("console=%v: the log shows a secret:\n%s", console, got)
		}
		if n := strings.Count(got, secret.Placeholder); n < 7 {
			t.Errorf("console=%v: %d masks, want at least 7:\n%s", console, n, got)
		}
	}
}

// TestLoggerMasksLegoExecOutput: lego's exec provider logs every line its
// script prints, at debug level; a script printing its credentials must
// not put them in renewd's log.
func TestLoggerMasksLegoExecOutput(t *testing.T) {
	const mapSecret, envSecret = "map-Secret-a1b2", "env-Secret-c3d4"
	for _, v := range []string{"EXEC_PATH", "EXEC_MODE", "EXEC_PROPAGATION_TIMEOUT", "EXEC_POLLING_INTERVAL", "EXEC_SEQUENCE_INTERVAL"} {
		t.Setenv(v, "")
		_ = os.Unsetenv(v)
	}
	t.Setenv("RENEWD_TEST_SECRET_KEY", envSecret)
	script := filepath.Join(t.TempDir(), "dns.sh")
	body := "#!/bin/sh\necho \"token $DNS_TEST_TOKEN $RENEWD_TEST_SECRET_KEY\"\necho \"given " + mapSecret + "\" >&2\nexit 1\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := newLoggerTo(&out, false, "debug", "info"); err != nil {
		t.Fatal(err)
	}
	p, err := acme.NewDNSProvider("exec", map[string]string{"EXEC_PATH": script, "DNS_TEST_TOKEN": mapSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Present("shop.example.com", "tok", "keyauth"); err == nil {
		t.Fatal("Present succeeded with a script exiting 1")
	}
	got := out.String()
	if strings.Contains(got, mapSecret) || strings.Contains(got, envSecret) {
		t.Errorf("lego's log shows a secret:\n%s", got)
	}
	if !strings.Contains(got, "given ********") || !strings.Contains(got, "token  ********") {
		t.Errorf("lego's log lacks the masked script output:\n%s", got)
	}
}
