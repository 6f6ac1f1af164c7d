package acme

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/challenge"
	"go.uber.org/zap"
)

// challengePath is where RFC 8555 section 8.3 puts HTTP-01 key authorizations.
const challengePath = "/.well-known/acme-challenge/"

// validToken reports whether a token from the CA is safe to use as a URL path
// element and a file name. RFC 8555 section 8.1: base64url characters only.
// A hostile or broken CA must not be able to make renewd write outside the
// webroot ("../"), so this is checked before a token touches a path.
func validToken(token string) bool {
	if token == "" || len(token) > 256 {
		return false
	}
	for _, r := range token {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Responder answers HTTP-01 challenges for every order of a run from one
// shared token table. Each listen address gets one listener, opened when the
// first order needs it and closed when the last one is done, so concurrent
// orders never fight over a port. It is safe for concurrent use.
type Responder struct {
	log *zap.Logger

	mu        sync.Mutex
	tokens    map[string]string // token -> key authorization
	listeners map[string]*listener
}

type listener struct {
	srv  *http.Server
	ln   net.Listener
	refs int
}

// NewResponder returns an idle Responder.
func NewResponder(log *zap.Logger) *Responder {
	return &Responder{log: log, tokens: map[string]string{}, listeners: map[string]*listener{}}
}

// ServeHTTP answers GET /.well-known/acme-challenge/<token>. It is exported
// so that the responder can also be mounted on a server renewd already runs.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, challengePath)
	if !ok || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	keyAuth, found := r.tokens[token]
	r.mu.Unlock()
	if !found {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(keyAuth))
}

// Provider returns a lego challenge provider that serves through r on addr.
func (r *Responder) Provider(addr string) challenge.Provider {
	return &listenProvider{r: r, addr: addr}
}

func (r *Responder) present(addr, token, keyAuth string) error {
	if !validToken(token) {
		return fmt.Errorf("http-01: the CA sent an unsafe token %q", token)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.listeners[addr]
	if l == nil {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("http-01: listen on %s: %w (is another server on that port? use webroot, or point nginx's proxy_pass at a free port)", addr, err)
		}
		srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(r.log)}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.log.Warn("http-01 responder stopped", zap.String("address", addr), zap.Error(err))
			}
		}()
		l = &listener{srv: srv, ln: ln}
		r.listeners[addr] = l
		r.log.Debug("http-01 responder listening", zap.String("address", addr))
	}
	l.refs++
	r.tokens[token] = keyAuth
	return nil
}

func (r *Responder) cleanUp(addr, token string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tokens, token)
	l := r.listeners[addr]
	if l == nil {
		return nil
	}
	if l.refs--; l.refs > 0 {
		return nil
	}
	delete(r.listeners, addr)
	err := l.srv.Close()
	// Close the socket ourselves: srv.Close only closes listeners Serve has
	// registered, and the Serve goroutine may not have started yet; the
	// next order must be able to listen on the same address at once.
	if lerr := l.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
		err = lerr
	}
	return err
}

type listenProvider struct {
	r    *Responder
	addr string
}

func (p *listenProvider) Present(_, token, keyAuth string) error {
	return p.r.present(p.addr, token, keyAuth)
}
func (p *listenProvider) CleanUp(_, token, _ string) error { return p.r.cleanUp(p.addr, token) }

// webrootProvider writes key authorizations below a web server's document
// root. Files are confined to the root with os.Root, so neither a token nor
// a symlink planted in the webroot can redirect a write elsewhere; they are
// written under a temporary name and renamed, so the web server never serves
// half a file.
//
// Every token is recorded in journal (nil: nowhere) before its file is
// written and struck off once it is removed, so the next order removes
// what a killed run left (see pending).
type webrootProvider struct {
	dir     string
	journal *pending
}

func (p *webrootProvider) Present(domain, token, keyAuth string) error {
	if !validToken(token) {
		return fmt.Errorf("http-01: the CA sent an unsafe token %q", token)
	}
	if err := p.journal.add(p.leftover(domain, token, keyAuth)); err != nil {
		return err
	}
	if err := p.write(token, keyAuth); err != nil {
		return err
	}
	presented()
	return nil
}

func (p *webrootProvider) leftover(domain, token, keyAuth string) leftover {
	return leftover{Type: "http-01", Domain: domain, Token: token, KeyAuth: keyAuth, Webroot: p.dir}
}

// write puts keyAuth at the token's path below the webroot.
func (p *webrootProvider) write(token, keyAuth string) error {
	root, err := os.OpenRoot(p.dir)
	if err != nil {
		return fmt.Errorf("http-01 webroot: %w", err)
	}
	defer root.Close()
	dir := strings.Trim(challengePath, "/")
	// 0755 and 0644: the web server, running as another user, must read them.
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("http-01 webroot: %w", err)
	}
	// MkdirAll and WriteFile are subject to the umask (077 under a hardened
	// unit); set the modes explicitly so the web server can read the token.
	for _, d := range []string{".well-known", dir} {
		if err := root.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("http-01 webroot: %w", err)
		}
	}
	name := path.Join(dir, token)
	tmp := name + ".tmp"
	if err := root.WriteFile(tmp, []byte(keyAuth), 0o644); err != nil {
		return fmt.Errorf("http-01 webroot: %w", err)
	}
	if err := root.Chmod(tmp, 0o644); err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("http-01 webroot: %w", err)
	}
	if err := root.Rename(tmp, name); err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("http-01 webroot: %w", err)
	}
	return nil
}

func (p *webrootProvider) CleanUp(domain, token, keyAuth string) error {
	if !validToken(token) {
		return nil
	}
	root, err := os.OpenRoot(p.dir)
	if err != nil {
		return fmt.Errorf("http-01 webroot: %w", err)
	}
	defer root.Close()
	if err := root.Remove(path.Join(strings.Trim(challengePath, "/"), token)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("http-01 webroot cleanup: %w", err)
	}
	return p.journal.done(p.leftover(domain, token, keyAuth))
}
