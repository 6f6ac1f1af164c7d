package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/renewd/renewd/internal/acme"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/preflight"
	"github.com/renewd/renewd/internal/store"
)

// stringList is a flag that may be given several times (-d a -d b).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// addFlags are the options of `renewd add`.
type addFlags struct {
	domains                   stringList
	webroot, listen, dns, ngx string
	canary, now               bool
}

// cmdAdd is `renewd add NAME -d DOMAIN... (--webroot|--listen|--dns) ...`:
// certbot's certonly habit without writing YAML. It writes
// domains.d/NAME.yaml, proves it passes config check (or removes it and
// says why), prints it, and with --now issues the certificate.
func cmdAdd(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("add", stderr)
	var f addFlags
	fs.Var(&f.domains, "d", "a `DOMAIN` of the certificate; repeat for more (the first is its main name)")
	fs.StringVar(&f.webroot, "webroot", "", "http-01: write tokens below `DIR`, which nginx serves /.well-known/acme-challenge/ from")
	fs.StringVar(&f.listen, "listen", "", "http-01: answer challenges on `ADDR` (host:port; nginx proxy_pass, or :80)")
	fs.StringVar(&f.dns, "dns", "", "dns-01 through lego's DNS `PROVIDER` (renewd providers lists them)")
	fs.StringVar(&f.ngx, "deploy-nginx", "", "install fullchain.pem and privkey.pem in `DIR`, then test and reload nginx")
	fs.BoolVar(&f.canary, "canary", false, "renew it first; the others wait for it")
	fs.BoolVar(&f.now, "now", false, "issue it at once (renew --now NAME)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	if len(pos) != 1 || len(f.domains) == 0 || countSet(f.webroot, f.listen, f.dns) != 1 {
		fmt.Fprintln(stderr, "renewd add: give one NAME, at least one -d DOMAIN, and one of --webroot, --listen or --dns")
		printUsage(fs)
		return &exitError{code: exitUsage}
	}
	name := pos[0]
	if err := store.ValidName(name); err != nil {
		return fail(exitUsage, "NAME %q: %v", name, err)
	}
	cfg, err := loadConfigFor(g, pos, false, stderr)
	if err != nil {
		return err
	}
	if cfg.Certificate(name) != nil {
		return fail(exitUsage, "%s already has a certificate called %s (%s); choose another NAME, or edit that file", cfg.DomainsDir, name, cfg.Certificate(name).File)
	}
	data, err := addYAML(f)
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	file := filepath.Join(cfg.DomainsDir, name+".yaml")
	if err := writeNew(file, data); err != nil {
		return fail(exitUsage, "%v", err)
	}
	if problems := checkAdded(g, name, cfg); len(problems) > 0 {
		_ = os.Remove(file)
		fmt.Fprintf(stderr, "renewd: %s is not written: %d problem(s) to fix first:\n", file, len(problems))
		for _, p := range problems {
			fmt.Fprintf(stderr, "%v\n", p)
		}
		return &exitError{code: exitUsage}
	}
	fmt.Fprintf(stdout, "wrote %s:\n%s", file, data)
	if !f.now {
		fmt.Fprintf(stdout, "renewd renew --now %s issues it now; otherwise the daemon does at its next pass (after systemctl reload renewd).\n", name)
		return nil
	}
	return cmdRenew(ctx, g, []string{"--now", name}, stdout, stderr)
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// addYAML renders the certificate file of f. For --dns it names the
// provider's credentials that are set in renewd's environment as ${VAR}:
// their values stay out of the file, in /etc/renewd/env.
func addYAML(f addFlags) ([]byte, error) {
	type http01 struct {
		Webroot string `yaml:"webroot,omitempty"`
		Listen  string `yaml:"listen,omitempty"`
	}
	type dns01 struct {
		Provider string            `yaml:"provider"`
		Env      map[string]string `yaml:"env,omitempty"`
	}
	type challenge struct {
		Type   string  `yaml:"type"`
		HTTP01 *http01 `yaml:"http01,omitempty"`
		DNS01  *dns01  `yaml:"dns01,omitempty"`
	}
	type deploy struct {
		Fullchain string `yaml:"fullchain"`
		Key       string `yaml:"key"`
		Nginx     bool   `yaml:"nginx"`
	}
	type file struct {
		Domains   []string  `yaml:"domains,flow"`
		Canary    bool      `yaml:"canary,omitempty"`
		Challenge challenge `yaml:"challenge"`
		Deploy    *deploy   `yaml:"deploy,omitempty"`
	}
	out := file{Domains: f.domains, Canary: f.canary}
	switch {
	case f.dns != "":
		d := &dns01{Provider: f.dns, Env: map[string]string{}}
		if p, ok := acme.LookupProvider(f.dns); ok {
			for _, v := range p.Credentials {
				if _, set := os.LookupEnv(v.Name); set {
					d.Env[v.Name] = "${" + v.Name + "}"
				}
			}
		}
		out.Challenge = challenge{Type: "dns-01", DNS01: d}
	default:
		out.Challenge = challenge{Type: "http-01", HTTP01: &http01{Webroot: f.webroot, Listen: f.listen}}
	}
	if f.ngx != "" {
		dir, err := filepath.Abs(f.ngx)
		if err != nil {
			return nil, err
		}
		out.Deploy = &deploy{Fullchain: filepath.Join(dir, "fullchain.pem"), Key: filepath.Join(dir, "privkey.pem"), Nginx: true}
	}
	if f.webroot != "" {
		dir, err := filepath.Abs(f.webroot)
		if err != nil {
			return nil, err
		}
		out.Challenge.HTTP01.Webroot = dir
	}
	var b bytes.Buffer
	b.WriteString("# written by renewd add; docs/configuration.md describes every field\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2) // as the examples in the docs
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeNew writes a new file, refusing to replace one.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists already; choose another NAME, or edit that file", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		_ = os.Remove(path)
		return err
	}
	return f.Close()
}

// checkAdded runs config check's checks on the new certificate name: its
// file's problems, the problems it makes in files that were fine before
// (a domain two files claim is reported on the later file, which may be
// the other one), and the preflight of it and of renewd.yaml. before is
// the configuration without the new file.
func checkAdded(g globals, name string, before *config.Config) []error {
	cfg, invalid, err := config.LoadValid(g.configPath, config.Options{CheckDNSProvider: acme.CheckDNSProvider})
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, ic := range invalid {
		if ic.Name == name || before.Certificate(ic.Name) != nil {
			errs = append(errs, ic.Errs...)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	only := *cfg
	only.Certificates = []*config.Certificate{cfg.Certificate(name)}
	return preflight.Check(&only, preflight.Options{})
}
