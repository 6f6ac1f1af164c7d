package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/go-acme/lego/v4/challenge"
	"go.uber.org/zap"

	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/crashpoint"
	"github.com/renewd/renewd/internal/store"
)

// Leftovers. lego removes an order's challenges (an HTTP-01 token file in a
// webroot, a DNS-01 TXT record) when the order ends, but a killed renewd
// never gets there. So every challenge set up is first recorded in
// <account dir>/pending/<certificate>.json, and struck off once cleaned
// up; the certificate's next order first removes what is still recorded.
// See docs/crash-safety.md.

// leftover is one challenge set up for an order and not yet cleaned up. The
// key authorization is what the CA fetches or looks up anyway: no secret.
type leftover struct {
	Type     string `json:"type"` // "http-01" (webroot) or "dns-01"
	Domain   string `json:"domain"`
	Token    string `json:"token"`
	KeyAuth  string `json:"key_auth"`
	Webroot  string `json:"webroot,omitempty"`
	Provider string `json:"provider,omitempty"`
}

// maxPending bounds what is read of a pending file.
const maxPending = 1 << 20

// pending is the record of one certificate's challenges in flight. It is
// safe for concurrent use (lego may set up several authorizations of one
// order at once); a nil *pending records nothing.
type pending struct {
	mu      sync.Mutex
	path    string
	entries []leftover
}

func newPending(accDir, name string) *pending {
	return &pending{path: filepath.Join(accDir, "pending", name+".json")}
}

// add records e before its challenge is set up.
func (p *pending) add(e leftover) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entries = append(p.entries, e)
	return p.save()
}

// done strikes e off once its challenge is cleaned up.
func (p *pending) done(e leftover) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entries = slices.DeleteFunc(p.entries, func(x leftover) bool { return x == e })
	return p.save()
}

// save writes the record atomically, or removes it when it is empty.
func (p *pending) save() error {
	if len(p.entries) == 0 {
		if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pending challenges: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return fmt.Errorf("pending challenges: %w", err)
	}
	data, err := json.MarshalIndent(p.entries, "", "  ")
	if err != nil {
		return err
	}
	if err := store.WriteFile(p.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("pending challenges: %w", err)
	}
	return nil
}

// load reads what an earlier run recorded: a missing, unreadable or
// broken record is nothing to clean up.
func (p *pending) load() []leftover {
	f, err := os.OpenFile(p.path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPending))
	if err != nil {
		return nil
	}
	var entries []leftover
	if json.Unmarshal(data, &entries) != nil {
		return nil
	}
	return entries
}

// cleanLeftovers removes the challenges a killed earlier order of cert
// left behind, as far as it can, and forgets them: a token file still
// holding its key authorization, a TXT record through the certificate's
// DNS provider (only when it still uses the one that set it up). A
// failure is logged, never retried: the record may be gone already.
func (c *Client) cleanLeftovers(p *pending, cert *config.Certificate) {
	entries := p.load()
	if len(entries) == 0 {
		return
	}
	var dns challenge.Provider
	for _, e := range entries {
		var err error
		switch e.Type {
		case "http-01":
			err = removeToken(e.Webroot, e.Token, e.KeyAuth)
		case "dns-01":
			if d := cert.Challenge.DNS01; cert.Challenge.Type != "dns-01" || d.Provider != e.Provider {
				err = fmt.Errorf("the certificate no longer uses DNS provider %s; remove the TXT record by hand", e.Provider)
				break
			}
			if dns == nil {
				if dns, err = NewDNSProvider(cert.Challenge.DNS01.Provider, cert.Challenge.DNS01.Env); err != nil {
					break
				}
			}
			err = maskError(dns.CleanUp(e.Domain, e.Token, e.KeyAuth), cert.Challenge.DNS01.Provider, cert.Challenge.DNS01.Env)
		}
		fields := []zap.Field{zap.String("certificate", cert.Name), zap.String("challenge", e.Type), zap.String("domain", e.Domain)}
		if err != nil {
			c.log.Warn("could not clean up a challenge an interrupted order left", append(fields, zap.Error(err))...)
			continue
		}
		c.log.Info("cleaned up a challenge an interrupted order left", fields...)
	}
	p.entries = nil
	if err := p.save(); err != nil {
		c.log.Warn("could not forget the cleaned-up challenges", zap.String("certificate", cert.Name), zap.Error(err))
	}
}

// removeToken removes webroot's token file if it still holds keyAuth (a
// file another client put there since is not renewd's to remove).
func removeToken(webroot, token, keyAuth string) error {
	if !validToken(token) {
		return fmt.Errorf("unsafe token %q", token)
	}
	root, err := os.OpenRoot(webroot)
	if err != nil {
		return fmt.Errorf("http-01 webroot: %w", err)
	}
	defer root.Close()
	dir := strings.Trim(challengePath, "/")
	for _, name := range []string{path.Join(dir, token), path.Join(dir, token+".tmp")} {
		f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("http-01 webroot: %w", err)
		}
		fi, _ := f.Stat()
		data, _ := io.ReadAll(io.LimitReader(f, int64(len(keyAuth))+1))
		f.Close()
		if fi == nil || !fi.Mode().IsRegular() || string(data) != keyAuth {
			continue
		}
		if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("http-01 webroot cleanup: %w", err)
		}
	}
	return nil
}

// presented is where a kill leaves a challenge set up and not cleaned up:
// the crash point of the test that proves the next order removes it.
func presented() { crashpoint.Hit("acme-presented") }
