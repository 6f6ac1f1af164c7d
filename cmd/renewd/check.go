package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/renewd/renewd/internal/chain"
	"github.com/renewd/renewd/internal/check"
	"github.com/renewd/renewd/internal/config"
	"github.com/renewd/renewd/internal/store"
)

const checkUsage = "usage: renewd check [--json] [--strict] [--warn-days N] [--timeout DURATION] [--connect HOST[:PORT]] [--ca-file FILE]... [--key FILE] [NAME | HOST[:PORT] | FILE.pem ...]"

// checkFlags are the options of `renewd check`.
type checkFlags struct {
	json     bool
	strict   bool
	warnDays int
	timeout  time.Duration
	connect  string   // host:port to dial instead of the target's address
	caFiles  []string // more trusted roots
	keyFile  string   // the key of the one FILE argument
	args     []string
}

func cmdCheck(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	f, err := parseCheckFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := checkConfig(g, f.args, stderr)
	if err != nil {
		return err
	}
	roots, err := checkRoots(cfg, f.caFiles)
	if err != nil {
		return err
	}
	targets, err := check.Plan(check.Request{Args: f.args, Connect: f.connect, KeyFile: f.keyFile}, inventory(cfg))
	if err != nil {
		return fail(exitUsage, "%v\n%s", err, checkUsage)
	}
	runner := &check.Runner{Options: check.ServerOptions{
		Options: check.Options{Roots: roots, Now: time.Now(), WarnDays: f.warnDays},
		Timeout: f.timeout,
	}}
	if cfg != nil {
		runner.Live = &liveFiles{storage: cfg.Storage}
	}
	reports := runner.Run(ctx, targets)
	if f.json {
		err = check.WriteJSON(stdout, reports, f.strict)
	} else {
		err = check.WriteText(stdout, reports, f.strict)
	}
	if err != nil {
		return err
	}
	if check.Verdict(reports, f.strict) == check.Fail {
		return &exitError{code: exitFailed}
	}
	return nil
}

func parseCheckFlags(args []string, stderr io.Writer) (checkFlags, error) {
	var f checkFlags
	var caFiles stringList
	set := newFlagSet("check", stderr)
	set.BoolVar(&f.json, "json", false, "print JSON for machines")
	set.BoolVar(&f.strict, "strict", false, "fail on warnings too")
	set.IntVar(&f.warnDays, "warn-days", check.AutoWarn, "warn when the certificate expires within this many days (0: never; default: a third of its lifetime, at most 14 days)")
	set.DurationVar(&f.timeout, "timeout", check.DefaultTimeout, "bound on each connection: connect and TLS handshake")
	set.StringVar(&f.connect, "connect", "", "connect to HOST[:PORT] instead, sending the name as SNI")
	set.Var(&caFiles, "ca-file", "also trust the roots in this PEM or DER file (repeatable): a private or staging CA")
	set.StringVar(&f.keyFile, "key", "", "the private key of the FILE argument: it must match the leaf")
	pos, err := parseInterspersed(set, args)
	if err != nil {
		return f, flagError(set, err)
	}
	f.args, f.caFiles = pos, caFiles
	switch {
	case f.warnDays < 0 && setExplicitly(set, "warn-days"):
		return f, fail(exitUsage, "--warn-days %d: use 0 or more days\n%s", f.warnDays, checkUsage)
	case f.timeout <= 0:
		return f, fail(exitUsage, "--timeout %s: use a positive duration such as 10s\n%s", f.timeout, checkUsage)
	}
	return f, nil
}

// setExplicitly reports whether the flag name was given.
func setExplicitly(set *flag.FlagSet, name string) bool {
	found := false
	set.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}

// checkConfig loads the configuration. Hosts and files can be checked
// without one: when every argument is given (none can be a name without a
// config) and the default configuration cannot be loaded, check runs with
// the system roots and --ca-file only. A configuration named by --config
// or RENEWD_CONFIG must load.
func checkConfig(g globals, args []string, stderr io.Writer) (*config.Config, error) {
	cfg, err := loadConfig(g)
	if err == nil {
		return cfg, nil
	}
	if len(args) == 0 || g.configPath != config.DefaultPath {
		return nil, err
	}
	if _, statErr := os.Stat(g.configPath); !errors.Is(statErr, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "renewd: %s does not load (`renewd config check` says why); checking the arguments as hosts and files with the system roots only\n", g.configPath)
	}
	return nil, nil
}

// checkRoots is the trust store: the system pool, trust.extra_roots and
// every --ca-file.
func checkRoots(cfg *config.Config, caFiles []string) (*x509.CertPool, error) {
	var extra []string
	if cfg != nil {
		extra = cfg.Trust.ExtraRoots
	}
	roots, err := chain.LoadRoots(append(extra, caFiles...))
	if err != nil {
		return nil, fail(exitUsage, "trust.extra_roots or --ca-file: %v", err)
	}
	return roots, nil
}

// inventory is what check needs of the configuration; nil without one.
func inventory(cfg *config.Config) *check.Inventory {
	if cfg == nil {
		return nil
	}
	inv := &check.Inventory{VerifyAddress: cfg.Nginx.Verify.Address, Source: cfg.DomainsDir}
	for _, c := range cfg.Certificates {
		inv.Certificates = append(inv.Certificates, check.Configured{Name: c.Name, Domains: c.Domains, DeployNginx: c.Deploy.Nginx})
	}
	return inv
}

// liveFiles reads live certificates from the store for check.
type liveFiles struct {
	storage string
	st      *store.Store
	err     error
	opened  bool
}

var _ check.LiveReader = (*liveFiles)(nil)

// Live implements check.LiveReader.
func (l *liveFiles) Live(name string) ([]byte, []byte, string, error) {
	file := filepath.Join(l.storage, "live", name, "fullchain.pem")
	if !l.opened {
		l.st, l.err = store.OpenReadOnly(l.storage)
		l.opened = true
	}
	if l.err != nil {
		return nil, nil, file, fmt.Errorf("storage: %w", l.err)
	}
	files, _, err := l.st.Live(name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, file, fmt.Errorf("%w: %v", check.ErrNoLive, err)
	}
	if err != nil {
		return nil, nil, file, err
	}
	return files.Fullchain, files.Key, file, nil
}
