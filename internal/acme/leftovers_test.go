package acme

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
)

// TestWebrootRecordsTokens: a token is recorded before its file exists and
// struck off once it is removed; the record is gone when nothing is
// pending, and is 0600 while something is.
func TestWebrootRecordsTokens(t *testing.T) {
	webroot, acc := t.TempDir(), t.TempDir()
	j := newPending(acc, "shop")
	p := &webrootProvider{dir: webroot, journal: j}
	if err := p.Present("shop.example.com", "tok1", "tok1.thumb"); err != nil {
		t.Fatal(err)
	}
	if err := p.Present("www.shop.example.com", "tok2", "tok2.thumb"); err != nil {
		t.Fatal(err)
	}
	got := newPending(acc, "shop").load()
	want := []leftover{
		{Type: "http-01", Domain: "shop.example.com", Token: "tok1", KeyAuth: "tok1.thumb", Webroot: webroot},
		{Type: "http-01", Domain: "www.shop.example.com", Token: "tok2", KeyAuth: "tok2.thumb", Webroot: webroot},
	}
	if !slices.Equal(got, want) {
		t.Errorf("recorded %+v, want %+v", got, want)
	}
	if fi, err := os.Stat(j.path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("record %s: %v, %v; want mode 0600", j.path, fi, err)
	}
	if err := p.CleanUp("shop.example.com", "tok1", "tok1.thumb"); err != nil {
		t.Fatal(err)
	}
	if got := newPending(acc, "shop").load(); !slices.Equal(got, want[1:]) {
		t.Errorf("after one cleanup: %+v, want %+v", got, want[1:])
	}
	if err := p.CleanUp("www.shop.example.com", "tok2", "tok2.thumb"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(j.path); !os.IsNotExist(err) {
		t.Errorf("the record is still there with nothing pending: %v", err)
	}
}

// TestCleanLeftovers: what a killed order left is removed by the next
// order of the certificate: token files that still hold their key
// authorization (not a file someone else put there since), TXT records
// through the certificate's DNS provider; then the record is gone.
func TestCleanLeftovers(t *testing.T) {
	unsetEnv(t, execVars...)
	webroot, acc := t.TempDir(), t.TempDir()
	tokens := filepath.Join(webroot, ".well-known", "acme-challenge")
	if err := os.MkdirAll(tokens, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"left": "left.thumb", "left2.tmp": "left2.thumb", "other": "other.someone-else"} {
		if err := os.WriteFile(filepath.Join(tokens, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(tokens, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	calls := filepath.Join(t.TempDir(), "calls")
	script := filepath.Join(t.TempDir(), "dns.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	j := newPending(acc, "shop")
	j.entries = []leftover{
		{Type: "http-01", Domain: "a.example.com", Token: "left", KeyAuth: "left.thumb", Webroot: webroot},
		{Type: "http-01", Domain: "a.example.com", Token: "left2", KeyAuth: "left2.thumb", Webroot: webroot},
		{Type: "http-01", Domain: "a.example.com", Token: "other", KeyAuth: "other.thumb", Webroot: webroot},
		{Type: "http-01", Domain: "a.example.com", Token: "fifo", KeyAuth: "fifo.thumb", Webroot: webroot},
		{Type: "dns-01", Domain: "a.example.com", Token: "dnstok", KeyAuth: "dnstok.thumb", Provider: "exec"},
	}
	if err := j.save(); err != nil {
		t.Fatal(err)
	}
	c := &Client{log: zap.NewNop()}
	cert := &config.Certificate{Name: "shop", Challenge: config.Challenge{Type: "dns-01",
		DNS01: config.DNS01{Provider: "exec", Env: map[string]string{"EXEC_PATH": script}}}}
	c.cleanLeftovers(newPending(acc, "shop"), cert)

	var left []string
	ents, _ := os.ReadDir(tokens)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if want := []string{"fifo", "other"}; !slices.Equal(left, want) {
		t.Errorf("token files left: %q, want %q", left, want)
	}
	data, err := os.ReadFile(calls)
	if err != nil || !strings.HasPrefix(string(data), "cleanup _acme-challenge.a.example.com. ") {
		t.Errorf("the DNS script was called with %q (%v), want a cleanup of the TXT record", data, err)
	}
	if _, err := os.Lstat(j.path); !os.IsNotExist(err) {
		t.Errorf("the record is still there after the cleanup: %v", err)
	}
}

// TestPendingLoadIgnoresJunk: a broken, huge or non-regular record is
// nothing to clean up, and reading it never blocks.
func TestPendingLoadIgnoresJunk(t *testing.T) {
	acc := t.TempDir()
	j := newPending(acc, "shop")
	if err := os.MkdirAll(filepath.Dir(j.path), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, make := range []func() error{
		func() error { return os.WriteFile(j.path, []byte("{not json"), 0o600) },
		func() error { return syscall.Mkfifo(j.path, 0o600) },
		func() error { return os.Symlink("/dev/zero", j.path) },
	} {
		_ = os.Remove(j.path)
		if err := make(); err != nil {
			t.Fatal(err)
		}
		if got := j.load(); got != nil {
			t.Errorf("load = %+v, want nothing", got)
		}
	}
}
