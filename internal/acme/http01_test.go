package acme

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"
)

func TestValidToken(t *testing.T) {
	tests := []struct {
		desc  string
		token string
		want  bool
	}{
		{desc: "base64url alphabet", token: "AZaz09-_", want: true},
		{desc: "typical 43-character token", token: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", want: true},
		{desc: "one character", token: "a", want: true},
		{desc: "256 characters", token: strings.Repeat("a", 256), want: true},
		{desc: "257 characters", token: strings.Repeat("a", 257), want: false},
		{desc: "300 characters", token: strings.Repeat("A", 300), want: false},
		{desc: "empty", token: "", want: false},
		{desc: "dot-dot traversal", token: "../x", want: false},
		{desc: "dot-dot alone", token: "..", want: false},
		{desc: "slash", token: "a/b", want: false},
		{desc: "backslash", token: `a\b`, want: false},
		{desc: "percent-encoded dot", token: "%2e", want: false},
		{desc: "percent-encoded slash", token: "a%2Fb", want: false},
		{desc: "NUL", token: "a\x00b", want: false},
		{desc: "newline", token: "a\nb", want: false},
		{desc: "space", token: "a b", want: false},
		{desc: "dot", token: "a.b", want: false},
		{desc: "standard base64 plus", token: "a+b", want: false},
		{desc: "base64 padding", token: "ab==", want: false},
		{desc: "non-ASCII letter", token: "é", want: false},
		{desc: "fullwidth digit", token: "１", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := validToken(tt.token); got != tt.want {
				t.Errorf("validToken(%q) = %v, want %v", tt.token, got, tt.want)
			}
		})
	}
}

// freeAddr returns a loopback address nobody listens on right now. The
// responder chooses its listener at Present, so the test picks the port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// get fetches a challenge path over a fresh connection, so a closed
// listener shows as a refused connection rather than a reused one.
func get(t *testing.T, addr, token string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + challengePath + token)
	if err != nil {
		t.Fatalf("GET %s: %v", token, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func assertRefused(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
}

func (r *Responder) counts() (tokens, listeners int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tokens), len(r.listeners)
}

func TestResponderSharesOneListener(t *testing.T) {
	r := NewResponder(zap.NewNop())
	addr := freeAddr(t)
	p1, p2 := r.Provider(addr), r.Provider(addr)
	t.Cleanup(func() {
		_ = p1.CleanUp("a.example.com", "tok1", "")
		_ = p2.CleanUp("b.example.com", "tok2", "")
	})

	if err := p1.Present("a.example.com", "tok1", "tok1.keyauth1"); err != nil {
		t.Fatalf("Present 1: %v", err)
	}
	if err := p2.Present("b.example.com", "tok2", "tok2.keyauth2"); err != nil {
		t.Fatalf("Present 2 on the same address: %v", err)
	}
	if _, n := r.counts(); n != 1 {
		t.Errorf("%d listeners for one address, want 1", n)
	}
	for tok, want := range map[string]string{"tok1": "tok1.keyauth1", "tok2": "tok2.keyauth2"} {
		if code, body := get(t, addr, tok); code != http.StatusOK || body != want {
			t.Errorf("GET %s = %d %q, want 200 %q", tok, code, body, want)
		}
	}

	if err := p1.CleanUp("a.example.com", "tok1", "tok1.keyauth1"); err != nil {
		t.Fatalf("CleanUp 1: %v", err)
	}
	if code, _ := get(t, addr, "tok1"); code != http.StatusNotFound {
		t.Errorf("GET tok1 after its CleanUp = %d, want 404", code)
	}
	if code, body := get(t, addr, "tok2"); code != http.StatusOK || body != "tok2.keyauth2" {
		t.Errorf("GET tok2 after the other's CleanUp = %d %q, want still served", code, body)
	}

	if err := p2.CleanUp("b.example.com", "tok2", "tok2.keyauth2"); err != nil {
		t.Fatalf("CleanUp 2: %v", err)
	}
	assertRefused(t, addr)
	if tokens, listeners := r.counts(); tokens != 0 || listeners != 0 {
		t.Errorf("after the last CleanUp: %d tokens, %d listeners, want none", tokens, listeners)
	}
}

// TestResponderRelistensAfterCleanUp: one order's CleanUp closes the
// listener and the next order on the same address (a sequential run, or a
// retry) opens it again. The port must be free once CleanUp has returned.
func TestResponderRelistensAfterCleanUp(t *testing.T) {
	r := NewResponder(zap.NewNop())
	addr := freeAddr(t)
	p := r.Provider(addr)
	for i := range 50 {
		if err := p.Present("a.example.com", "tok", "tok.ka"); err != nil {
			t.Fatalf("Present #%d right after the previous CleanUp: %v", i+1, err)
		}
		if err := p.CleanUp("a.example.com", "tok", "tok.ka"); err != nil {
			t.Fatalf("CleanUp #%d: %v", i+1, err)
		}
	}
	assertRefused(t, addr)
}

func TestResponderRefusesUnsafeToken(t *testing.T) {
	r := NewResponder(zap.NewNop())
	addr := freeAddr(t)
	for _, tok := range []string{"../x", "a/b", "", "%2e", "a\x00b", strings.Repeat("a", 300)} {
		err := r.Provider(addr).Present("a.example.com", tok, "ka")
		if err == nil || !strings.Contains(err.Error(), "unsafe token") {
			t.Errorf("Present(%q) = %v, want an unsafe-token error", tok, err)
		}
	}
	if tokens, listeners := r.counts(); tokens != 0 || listeners != 0 {
		t.Errorf("unsafe tokens left %d tokens, %d listeners", tokens, listeners)
	}
	assertRefused(t, addr)
}

func TestResponderListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := NewResponder(zap.NewNop())
	err = r.Provider(busy.Addr().String()).Present("a.example.com", "tok", "tok.ka")
	if err == nil || !strings.Contains(err.Error(), "listen on "+busy.Addr().String()) {
		t.Fatalf("Present on a busy port = %v, want a listen error naming the address", err)
	}
	if tokens, listeners := r.counts(); tokens != 0 || listeners != 0 {
		t.Errorf("a failed Present left %d tokens, %d listeners", tokens, listeners)
	}
}

func TestResponderServeHTTP(t *testing.T) {
	r := NewResponder(zap.NewNop())
	r.tokens["tok"] = "tok.keyauth"
	tests := []struct {
		desc     string
		method   string
		path     string
		wantCode int
		wantBody string
	}{
		{desc: "GET a known token", method: http.MethodGet, path: challengePath + "tok", wantCode: 200, wantBody: "tok.keyauth"},
		{desc: "HEAD a known token", method: http.MethodHead, path: challengePath + "tok", wantCode: 200},
		{desc: "GET an unknown token", method: http.MethodGet, path: challengePath + "other", wantCode: 404},
		{desc: "GET the bare challenge directory", method: http.MethodGet, path: challengePath, wantCode: 404},
		{desc: "GET a token below the token", method: http.MethodGet, path: challengePath + "tok/x", wantCode: 404},
		{desc: "GET the token outside the challenge path", method: http.MethodGet, path: "/tok", wantCode: 404},
		{desc: "GET the root", method: http.MethodGet, path: "/", wantCode: 404},
		{desc: "GET a dot-dot path", method: http.MethodGet, path: challengePath + "../acme-challenge/tok", wantCode: 404},
		{desc: "POST a known token", method: http.MethodPost, path: challengePath + "tok", wantCode: 404},
		{desc: "PUT a known token", method: http.MethodPut, path: challengePath + "tok", wantCode: 404},
		{desc: "DELETE a known token", method: http.MethodDelete, path: challengePath + "tok", wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://shop.example.com"+tt.path, nil)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.wantCode)
			}
			if tt.wantCode == 200 {
				if ct := rec.Header().Get("Content-Type"); ct != "text/plain" {
					t.Errorf("Content-Type %q, want text/plain", ct)
				}
				if tt.method == http.MethodGet && rec.Body.String() != tt.wantBody {
					t.Errorf("body %q, want %q", rec.Body.String(), tt.wantBody)
				}
			} else if strings.Contains(rec.Body.String(), "tok.keyauth") {
				t.Errorf("a %d answer leaks the key authorization", rec.Code)
			}
		})
	}
}

func challengeFile(dir, token string) string {
	return filepath.Join(dir, ".well-known", "acme-challenge", token)
}

func TestWebrootPresentAndCleanUp(t *testing.T) {
	dir := t.TempDir()
	p := &webrootProvider{dir: dir}
	if err := p.Present("shop.example.com", "tok", "tok.keyauth"); err != nil {
		t.Fatalf("Present: %v", err)
	}
	file := challengeFile(dir, "tok")
	data, err := os.ReadFile(file)
	if err != nil || string(data) != "tok.keyauth" {
		t.Fatalf("challenge file: %q, %v", data, err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o644 {
		t.Errorf("challenge file mode %v, want -rw-r--r-- (the web server reads it)", fi.Mode())
	}
	entries, err := os.ReadDir(filepath.Dir(file))
	if err != nil || len(entries) != 1 {
		t.Errorf("challenge directory holds %v (%v), want the token file only (no temporary file)", entries, err)
	}

	// Presenting again (a retried authorization) replaces the content.
	if err := p.Present("shop.example.com", "tok", "tok.keyauth2"); err != nil {
		t.Fatalf("Present again: %v", err)
	}
	if data, _ := os.ReadFile(file); string(data) != "tok.keyauth2" {
		t.Errorf("after a second Present the file holds %q", data)
	}

	if err := p.CleanUp("shop.example.com", "tok", "tok.keyauth2"); err != nil {
		t.Fatalf("CleanUp: %v", err)
	}
	if _, err := os.Lstat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("challenge file still there after CleanUp: %v", err)
	}
	if err := p.CleanUp("shop.example.com", "tok", "tok.keyauth2"); err != nil {
		t.Errorf("a second CleanUp = %v, want nil", err)
	}
}

// TestWebrootFileModeIgnoresUmask: a hardened service (systemd UMask=0077)
// runs renewd with a restrictive umask, while nginx's workers run as
// another user and must read the token, or the CA sees a 403.
func TestWebrootFileModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	if err := (&webrootProvider{dir: dir}).Present("shop.example.com", "tok", "tok.keyauth"); err != nil {
		t.Fatalf("Present: %v", err)
	}
	for path, want := range map[string]fs.FileMode{
		challengeFile(dir, "tok"):                           0o644,
		filepath.Join(dir, ".well-known", "acme-challenge"): fs.ModeDir | 0o755,
		filepath.Join(dir, ".well-known"):                   fs.ModeDir | 0o755,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v under umask 077, want %v", path, fi.Mode(), want)
		}
	}
}

func TestWebrootRefusesUnsafeToken(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "www")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(parent, "x")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &webrootProvider{dir: dir}
	for _, tok := range []string{"../x", "../../x", "a/b", "", "%2e", "a\x00b"} {
		if err := p.Present("shop.example.com", tok, "ka"); err == nil || !strings.Contains(err.Error(), "unsafe token") {
			t.Errorf("Present(%q) = %v, want an unsafe-token error", tok, err)
		}
		_ = p.CleanUp("shop.example.com", tok, "ka")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("unsafe tokens created %v in the webroot", entries)
	}
	// CleanUp of "../../x" (the challenge directory is two levels down)
	// must not have removed the file it names.
	if data, err := os.ReadFile(victim); err != nil || string(data) != "keep" {
		t.Errorf("file outside the webroot: %q, %v", data, err)
	}
}

func TestWebrootSymlinkCannotEscape(t *testing.T) {
	tests := []struct {
		desc  string
		plant func(t *testing.T, dir, outside string)
	}{
		{desc: ".well-known is a symlink out of the webroot", plant: func(t *testing.T, dir, outside string) {
			symlink(t, outside, filepath.Join(dir, ".well-known"))
		}},
		{desc: "acme-challenge is a symlink out of the webroot", plant: func(t *testing.T, dir, outside string) {
			mkdir(t, filepath.Join(dir, ".well-known"))
			symlink(t, outside, filepath.Join(dir, ".well-known", "acme-challenge"))
		}},
		{desc: "the temporary file name is a symlink out of the webroot", plant: func(t *testing.T, dir, outside string) {
			mkdir(t, filepath.Join(dir, ".well-known", "acme-challenge"))
			symlink(t, filepath.Join(outside, "tok.tmp"), challengeFile(dir, "tok.tmp"))
		}},
		{desc: ".well-known is a relative symlink climbing out", plant: func(t *testing.T, dir, outside string) {
			symlink(t, filepath.Join("..", filepath.Base(outside)), filepath.Join(dir, ".well-known"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			parent := t.TempDir()
			dir, outside := filepath.Join(parent, "www"), filepath.Join(parent, "outside")
			mkdir(t, dir)
			mkdir(t, outside)
			tt.plant(t, dir, outside)

			err := (&webrootProvider{dir: dir}).Present("shop.example.com", "tok", "tok.keyauth")
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Fatalf("Present wrote %v outside the webroot (err %v)", names, err)
			}
			if err == nil {
				// Without an error the token must be inside the webroot.
				if data, rerr := os.ReadFile(challengeFile(dir, "tok")); rerr != nil || string(data) != "tok.keyauth" {
					t.Errorf("Present succeeded but the token is not in the webroot: %q, %v", data, rerr)
				}
			}
		})
	}
}

// A symlink that stays inside the webroot is a layout choice, not an attack.
func TestWebrootSymlinkInsideIsFollowed(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, filepath.Join(dir, "shared"))
	symlink(t, "shared", filepath.Join(dir, ".well-known"))
	p := &webrootProvider{dir: dir}
	if err := p.Present("shop.example.com", "tok", "tok.keyauth"); err != nil {
		t.Fatalf("Present: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "shared", "acme-challenge", "tok")); err != nil || string(data) != "tok.keyauth" {
		t.Errorf("token through an inside symlink: %q, %v", data, err)
	}
}

func TestWebrootMissing(t *testing.T) {
	p := &webrootProvider{dir: filepath.Join(t.TempDir(), "missing")}
	if err := p.Present("shop.example.com", "tok", "ka"); err == nil || !strings.Contains(err.Error(), "webroot") {
		t.Errorf("Present into a missing webroot = %v, want a webroot error", err)
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
