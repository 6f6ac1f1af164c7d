package main

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/renewd/renewd/internal/config"
)

// TestLogProgress: each step is one structured line with the certificate,
// its domains, the step and its detail.
func TestLogProgress(t *testing.T) {
	core, logs := zapobserver.New(zapcore.InfoLevel)
	cfg := &config.Config{Certificates: []*config.Certificate{{Name: "shop", Domains: []string{"shop.example.com", "www.shop.example.com"}}}}
	p := newLogProgress(zap.New(core), cfg)
	p.Step("shop", "order", "http-01 for [shop.example.com www.shop.example.com]")
	p.Step("shop", "done", "serial 0a1b, valid until 2027-02-19T17:58:38Z")

	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d log lines, want 2: %v", len(entries), entries)
	}
	for i, step := range []string{"order", "done"} {
		f := entries[i].ContextMap()
		if entries[i].Message != step || f["certificate"] != "shop" || f["step"] != step {
			t.Errorf("line %d: %q %v", i, entries[i].Message, f)
		}
		if d, ok := f["domains"].([]any); !ok || len(d) != 2 || d[0] != "shop.example.com" {
			t.Errorf("line %d: domains %v", i, f["domains"])
		}
		if _, ok := f["elapsed"]; !ok {
			t.Errorf("line %d: no elapsed field", i)
		}
	}
	if f := entries[1].ContextMap(); f["detail"] != "serial 0a1b, valid until 2027-02-19T17:58:38Z" {
		t.Errorf("detail %v", f["detail"])
	}
}
